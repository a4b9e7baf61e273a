// Tensor-level entry points of the CUDA compositing kernels (built only with CUDA support).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../raster_ops.h"
#include "composite_cuda.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

void check_cuda(std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* t : tensors) {
    TORCH_CHECK(t->is_cuda() && t->is_contiguous(),
                "splat3d native composite (CUDA): inputs must be contiguous CUDA tensors");
  }
}

CudaTiles cuda_tiles(const at::Tensor& ids, const at::Tensor& starts, const at::Tensor& counts,
                     int64_t width, int64_t height) {
  return {ids.data_ptr<int64_t>(), starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>(),
          counts.numel(), (width + kTile - 1) / kTile, (height + kTile - 1) / kTile, width,
          height};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width,
    int64_t height) {
  check_cuda({&means2d, &conics, &opacities, &features, &gaussian_ids, &tile_starts,
              &tile_counts});
  const c10::cuda::CUDAGuard guard(features.device());
  const int64_t C = features.size(0), F = features.size(2);
  auto fsum = at::zeros({C, height, width, F}, features.options());
  auto trans = at::ones({C, height, width}, features.options());
  auto last = at::zeros({C, height, width}, features.options().dtype(at::kInt));
  const CudaTiles tiles = cuda_tiles(gaussian_ids, tile_starts, tile_counts, width, height);
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "composite_forward_cuda", [&] {
    launch_composite_forward<scalar_t>(
        means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
        opacities.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(), F, tiles,
        fsum.data_ptr<scalar_t>(), trans.data_ptr<scalar_t>(), last.data_ptr<int32_t>(),
        c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {fsum, trans, last};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_backward_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, const at::Tensor& fsum,
    const at::Tensor& trans, const at::Tensor& last, const at::Tensor& grad_fsum,
    const at::Tensor& grad_trans) {
  check_cuda({&means2d, &conics, &opacities, &features, &gaussian_ids, &tile_starts,
              &tile_counts, &fsum, &trans, &last, &grad_fsum, &grad_trans});
  const c10::cuda::CUDAGuard guard(features.device());
  const int64_t C = features.size(0), N = features.size(1), F = features.size(2);
  const int64_t height = trans.size(1), width = trans.size(2);
  auto grads = at::zeros({C, N, 6 + F}, features.options());
  const CudaTiles tiles = cuda_tiles(gaussian_ids, tile_starts, tile_counts, width, height);
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "composite_backward_cuda", [&] {
    launch_composite_backward<scalar_t>(
        means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
        opacities.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(), F, tiles,
        fsum.data_ptr<scalar_t>(), trans.data_ptr<scalar_t>(), last.data_ptr<int32_t>(),
        grad_fsum.data_ptr<scalar_t>(), grad_trans.data_ptr<scalar_t>(),
        grads.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grads.slice(2, 0, 2).contiguous(), grads.slice(2, 2, 5).contiguous(),
          grads.select(2, 5).contiguous(), grads.slice(2, 6).contiguous()};
}

}  // namespace splat3d
