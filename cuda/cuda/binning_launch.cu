// Tensor-level entry point of the CUDA tile binning (built only with CUDA support); same
// arguments and results as bin_gaussians_cpu. The prefix sum, the stable key sort and the
// per-tile counts are torch ops on the current stream.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../raster_ops.h"
#include "binning_cuda.h"

namespace splat3d {

std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height) {
  const auto dtype = means2d.scalar_type();
  for (const at::Tensor* t : {&means2d, &conics, &opacities, &extents, &depths}) {
    TORCH_CHECK(t->is_cuda() && t->is_contiguous() && t->scalar_type() == dtype,
                "splat3d native binning (CUDA): inputs must be contiguous CUDA tensors of one "
                "dtype");
  }
  TORCH_CHECK(valid.is_cuda() && valid.is_contiguous() && valid.scalar_type() == at::kBool,
              "splat3d native binning (CUDA): valid must be a contiguous bool CUDA tensor");
  const c10::cuda::CUDAGuard guard(means2d.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const int64_t C = depths.size(0), N = depths.size(1), n = C * N;
  const TileGrid grid{(width + kTile - 1) / kTile, (height + kTile - 1) / kTile, width, height};
  const int64_t n_tiles = C * grid.tiles_x * grid.tiles_y;
  TORCH_CHECK(n_tiles < (int64_t(1) << 31), "splat3d native binning: too many tiles");
  const auto long_opts = depths.options().dtype(at::kLong);
  auto counts = at::empty({n}, long_opts);
  AT_DISPATCH_FLOATING_TYPES(dtype, "bin_count_cuda", [&] {
    launch_count_tiles<scalar_t>(means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
                                 opacities.data_ptr<scalar_t>(), extents.data_ptr<scalar_t>(),
                                 valid.data_ptr<bool>(), n, grid, counts.data_ptr<int64_t>(),
                                 stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const auto offsets = at::cumsum(counts, 0);
  const int64_t total = n > 0 ? offsets[n - 1].item<int64_t>() : 0;
  auto keys = at::empty({total}, long_opts), ids = at::empty({total}, long_opts);
  AT_DISPATCH_FLOATING_TYPES(dtype, "bin_write_cuda", [&] {
    launch_write_pairs<scalar_t>(means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
                                 opacities.data_ptr<scalar_t>(), extents.data_ptr<scalar_t>(),
                                 depths.data_ptr<scalar_t>(), valid.data_ptr<bool>(), n, N, grid,
                                 offsets.data_ptr<int64_t>(), keys.data_ptr<int64_t>(),
                                 ids.data_ptr<int64_t>(), stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // by tile, then depth; equal keys keep index order (stable), as on the CPU
  const auto sorted = at::sort(keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto gaussian_ids = ids.index_select(0, std::get<1>(sorted));
  const auto tile_counts = at::bincount(at::bitwise_right_shift(std::get<0>(sorted), 32), {},
                                        n_tiles);
  const auto tile_starts = at::cumsum(tile_counts, 0) - tile_counts;
  return {gaussian_ids, tile_starts, tile_counts};
}

}  // namespace splat3d
