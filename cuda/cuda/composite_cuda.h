// Launchers of the CUDA compositing kernels, on raw pointers so the kernels compile without
// torch (tests/splat3d/test_native.py builds composite_cuda.cu with nvcc alone).
// Layouts are those of raster_ops.h; grads is a zeroed [C*N, 6+F] buffer receiving
// (mean x, mean y, conic a, b, c, opacity, features...) per Gaussian.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace splat3d {

struct CudaTiles {
  const int64_t* ids;
  const int64_t* starts;
  const int64_t* counts;
  int64_t n_tiles, tiles_x, tiles_y, width, height;
};

template <typename T>
void launch_composite_forward(const T* means2d, const T* conics, const T* opacities,
                              const T* features, int64_t F, const CudaTiles& tiles, T* fsum,
                              T* trans, int32_t* last, cudaStream_t stream);

template <typename T>
void launch_composite_backward(const T* means2d, const T* conics, const T* opacities,
                               const T* features, int64_t F, const CudaTiles& tiles,
                               const T* fsum, const T* trans, const int32_t* last,
                               const T* grad_fsum, const T* grad_trans, T* grads,
                               cudaStream_t stream);

}  // namespace splat3d
