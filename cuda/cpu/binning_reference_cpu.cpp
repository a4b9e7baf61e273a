// Reference tile binning on the CPU, one thread, in the simplest form: every valid Gaussian's
// tiles from the shared scalar test (binning_math.h), as (tile, depth key) keys in index
// order, then one stable sort. The CUDA binning is the same algorithm on the GPU; tests check
// that this and the optimised CPU binning (binning_cpu.cpp) give identical lists.
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "../raster_ops.h"
#include "splat3d/binning_math.h"

namespace splat3d {

std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_reference_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height) {
  TORCH_CHECK(!means2d.is_cuda(), "splat3d bin_gaussians_reference runs on the CPU");
  const auto m = means2d.to(at::kDouble).contiguous(), q = conics.to(at::kDouble).contiguous();
  const auto o = opacities.to(at::kDouble).contiguous(), e = extents.to(at::kDouble).contiguous();
  const auto z = depths.to(at::kFloat).contiguous();  // the sort key is the float32 depth
  const auto ok = valid.to(at::kBool).contiguous();
  const int64_t C = depths.size(0), N = depths.size(1);
  const TileGrid grid{(width + kTile - 1) / kTile, (height + kTile - 1) / kTile, width, height};
  const int64_t per_cam = grid.tiles_x * grid.tiles_y;
  std::vector<uint64_t> keys;
  std::vector<int64_t> gids;
  for (int64_t gid = 0; gid < C * N; ++gid) {
    if (!ok.data_ptr<bool>()[gid]) continue;
    const double* mp = m.data_ptr<double>() + 2 * gid;
    const double* qp = q.data_ptr<double>() + 3 * gid;
    const double* ep = e.data_ptr<double>() + 2 * gid;
    const uint64_t depth = depth_sort_key(z.data_ptr<float>()[gid]);
    const int64_t cam_tiles = (gid / N) * per_cam;
    visit_gaussian_tiles(mp[0], mp[1], qp[0], qp[1], qp[2], o.data_ptr<double>()[gid], ep[0],
                         ep[1], grid, [&](int64_t tx, int64_t ty) {
                           const uint64_t tile = cam_tiles + ty * grid.tiles_x + tx;
                           keys.push_back(tile << 32 | depth);
                           gids.push_back(gid);
                         });
  }
  std::vector<int64_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t i, int64_t j) { return keys[i] < keys[j]; });
  const auto long_opts = depths.options().dtype(at::kLong);
  auto ids = at::empty({int64_t(keys.size())}, long_opts);
  auto starts = at::zeros({C * per_cam}, long_opts), counts = at::zeros({C * per_cam}, long_opts);
  int64_t* id = ids.data_ptr<int64_t>();
  int64_t* count = counts.data_ptr<int64_t>();
  for (size_t i = 0; i < order.size(); ++i) {
    id[i] = gids[order[i]];
    ++count[keys[order[i]] >> 32];
  }
  std::exclusive_scan(count, count + C * per_cam, starts.data_ptr<int64_t>(), int64_t(0));
  return {ids, starts, counts};
}

}  // namespace splat3d
