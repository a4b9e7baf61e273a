// ThreadSanitizer driver: calls the native CPU ops directly (no Python) with 1, 2 and 3
// threads and checks that the results agree. Built with -DSPLAT3D_STD_THREADS, so the
// kernels' threads are plain std::threads (cuda/cpu/parallel.h), which TSan understands;
// see cuda/tests/run_tsan.sh. Exits non-zero when the thread counts disagree. With --race it
// only runs a deliberate data race through the kernels' thread pool, to show TSan catches one.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdio>
#include <string>
#include <vector>

#include "cpu/parallel.h"
#include "raster_ops.h"

using namespace splat3d;

namespace {

// Every output and gradient of one projection + binning + compositing forward/backward; the
// kernels run with ``threads`` threads, the torch glue in between with one (so only our
// code runs concurrently: libtorch's own OpenMP regions would be invisible to TSan).
std::vector<at::Tensor> run(const std::vector<at::Tensor>& scene, const at::Tensor& viewmats,
                            const at::Tensor& Ks, int64_t W, int64_t H, int threads) {
  const auto with_threads = [threads](auto op) {
    at::set_num_threads(threads);
    auto result = op();
    at::set_num_threads(1);
    return result;
  };
  const auto &means = scene[0], &quats = scene[1], &log_scales = scene[2], &logits = scene[3],
             &sh = scene[4];
  auto p = with_threads([&] {
    return project_forward_cpu(means, quats, log_scales, logits, sh, viewmats, Ks, W, H, 0.01,
                               1e10, 3, true);
  });
  const auto& feat = p[3];  // SH colour and depth
  auto depths = feat.select(2, 3).contiguous();
  auto bins = with_threads(
      [&] { return bin_gaussians_cpu(p[0], p[1], p[2], p[4], depths, p[5], W, H); });
  auto fw = with_threads([&] {
    return composite_forward_cpu(p[0], p[1], p[2], feat, p[4], std::get<0>(bins),
                                 std::get<1>(bins), std::get<2>(bins), W, H);
  });
  auto gf = at::sin(at::arange(std::get<0>(fw).numel(), feat.options()))
                .reshape(std::get<0>(fw).sizes());
  auto gt = at::cos(at::arange(std::get<1>(fw).numel(), feat.options()))
                .reshape(std::get<1>(fw).sizes());
  auto bw = with_threads([&] {
    return composite_backward_cpu(p[0], p[1], p[2], feat, p[4], std::get<0>(bins),
                                  std::get<1>(bins), std::get<2>(bins), std::get<0>(fw),
                                  std::get<1>(fw), std::get<2>(fw), gf, gt);
  });
  auto pb = with_threads([&] {
    return project_backward_cpu(means, quats, log_scales, logits, sh, viewmats, Ks, W, H, 0.01,
                                1e10, 3, true, std::get<0>(bw), std::get<1>(bw),
                                std::get<2>(bw), std::get<3>(bw));
  });
  std::vector<at::Tensor> out = {std::get<0>(bins), p[6], std::get<0>(fw), std::get<1>(fw)};
  for (auto& t : pb) out.push_back(t);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--race") {
    // a deliberate data race through the kernels' fork/join: TSan must report it
    static int64_t shared = 0;
    at::set_num_threads(2);
    for_each_chunk(2, [](int, int64_t i) {  // slow chunks: the helper surely takes one
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      shared += i + 1;
    });
    std::printf("racy sum %lld\n", static_cast<long long>(shared));
    return 0;
  }
  at::set_num_threads(1);
  at::manual_seed(0);
  const int64_t N = 4000, W = 96, H = 80, C = 2;
  std::vector<at::Tensor> scene = {(at::rand({N, 3}) * 2 - 1) * 0.8, at::randn({N, 4}),
                                   at::log(0.01 + 0.08 * at::rand({N, 3})), at::randn({N}),
                                   at::randn({N, 16, 3}) * 0.3};
  auto viewmats = at::eye(4).unsqueeze(0).repeat({C, 1, 1});
  viewmats.index_put_({0, 2, 3}, 3.0);
  viewmats.index_put_({1, 2, 3}, 2.5);
  viewmats.index_put_({1, 0, 3}, 0.3);
  auto Ks = at::tensor({80.0, 0.0, 48.0, 0.0, 80.0, 40.0, 0.0, 0.0, 1.0})
                .reshape({1, 3, 3})
                .repeat({C, 1, 1});
  int failures = 0;
  for (auto dtype : {at::kFloat, at::kDouble}) {
    std::vector<at::Tensor> s;
    for (auto& t : scene) s.push_back(t.to(dtype).contiguous());
    const auto V = viewmats.to(dtype), K = Ks.to(dtype);
    const auto ref = run(s, V, K, W, H, 1);
    for (int threads : {2, 3}) {
      const auto out = run(s, V, K, W, H, threads);
      double worst = 0;
      bool same_bins = at::equal(out[0], ref[0]) && at::equal(out[1], ref[1]);  // + radii
      for (size_t i = 2; i < out.size(); ++i) {
        const double scale = ref[i].abs().max().item<double>() + 1e-12;
        worst = std::max(worst, (out[i] - ref[i]).abs().max().item<double>() / scale);
      }
      const bool ok = same_bins && worst == 0;  // sums in a fixed order: bit-identical
      failures += !ok;
      std::printf("%s, %d threads vs 1: pairs %lld, identical bins %s, worst relative "
                  "difference %.3g %s\n", dtype == at::kFloat ? "float32" : "float64", threads,
                  static_cast<long long>(out[0].numel()), same_bins ? "yes" : "NO", worst,
                  ok ? "ok" : "FAIL");
    }
  }
  return failures == 0 ? 0 : 1;
}
