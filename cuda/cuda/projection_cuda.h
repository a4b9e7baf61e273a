// Launchers of the CUDA projection kernels, on raw pointers so the kernels compile without
// torch (tests/splat3d/test_native.py builds projection_cuda.cu with nvcc alone). Layouts
// and semantics are those of project_forward_cpu / project_backward_cpu (raster_ops.h);
// viewmats [C,4,4] and Ks [C,3,3] are device arrays of T.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace splat3d {

struct CudaProjectionInputs {
  int64_t C, N, K;           // cameras, Gaussians, SH coefficients per Gaussian
  int64_t width, height;
  double near_plane, far_plane;
  int sh_degree;             // < 0: no colours (sh unused)
  bool antialiased;
};

template <typename T>
void launch_project_forward(const CudaProjectionInputs& in, const T* means, const T* quats,
                            const T* log_scales, const T* opacity_logits, const T* sh,
                            const T* viewmats, const T* Ks, T* means2d, T* conics, T* opacities,
                            T* features, T* extents, bool* valid, int32_t* radii,
                            cudaStream_t stream);

// Writes (does not add) every gradient; g_sh may be null when sh_degree < 0.
template <typename T>
void launch_project_backward(const CudaProjectionInputs& in, const T* means, const T* quats,
                             const T* log_scales, const T* opacity_logits, const T* sh,
                             const T* viewmats, const T* Ks, const T* g_means2d,
                             const T* g_conics, const T* g_opacities, const T* g_features,
                             T* g_means, T* g_quats, T* g_log_scales, T* g_logits, T* g_sh,
                             cudaStream_t stream);

}  // namespace splat3d
