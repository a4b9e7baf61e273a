// ThreadSanitizer driver: calls the native CPU ops directly (no Python) with 2 threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <cstdio>
#include "raster_ops.h"
using namespace splat3d;
int main() {
  at::set_num_threads(2);
  at::manual_seed(0);
  const int64_t N = 3000, W = 96, H = 80;
  auto means = (at::rand({N, 3}) * 2 - 1) * 0.8;
  auto quats = at::randn({N, 4});
  auto log_scales = at::log(0.01 + 0.08 * at::rand({N, 3}));
  auto logits = at::randn({N});
  auto sh = at::randn({N, 16, 3}) * 0.3;
  auto viewmat = at::eye(4).unsqueeze(0).clone();
  viewmat.index_put_({0, 2, 3}, 3.0);
  auto K = at::tensor({80.0, 0.0, 48.0, 0.0, 80.0, 40.0, 0.0, 0.0, 1.0}).reshape({1, 3, 3});
  for (int it = 0; it < 2; ++it) {
    auto p = project_forward_cpu(means, quats, log_scales, logits, sh, viewmat, K, W, H, 0.01,
                                 1e10, 3, true);
    auto feat = at::cat({p[4], p[3].unsqueeze(-1)}, -1).contiguous();
    auto bins = bin_gaussians_cpu(p[0], p[1], p[2], p[5], p[3], p[6], W, H);
    auto fw = composite_forward_cpu(p[0], p[1], p[2], feat, p[5], std::get<0>(bins),
                                    std::get<1>(bins), std::get<2>(bins), W, H);
    auto gf = at::ones_like(std::get<0>(fw)), gt = at::ones_like(std::get<1>(fw));
    auto bw = composite_backward_cpu(p[0], p[1], p[2], feat, p[5], std::get<0>(bins),
                                     std::get<1>(bins), std::get<2>(bins), std::get<0>(fw),
                                     std::get<1>(fw), std::get<2>(fw), gf, gt);
    auto g_feat = std::get<3>(bw);
    auto pb = project_backward_cpu(means, quats, log_scales, logits, sh, viewmat, K, W, H, 0.01,
                                   1e10, 3, true, std::get<0>(bw), std::get<1>(bw),
                                   std::get<2>(bw), g_feat.select(2, 3).contiguous(),
                                   g_feat.slice(2, 0, 3).contiguous());
    std::printf("pairs %lld  image sum %.4f  d means sum %.4f\n",
                (long long)std::get<0>(bins).numel(), std::get<0>(fw).sum().item<float>(),
                pb[0].abs().sum().item<float>());
  }
  return 0;
}
