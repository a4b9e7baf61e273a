// Projection on CUDA, forward and backward: the per-(camera, Gaussian) math of
// projection_math.h and sh_math.h, shared with the CPU kernels. The forward runs one thread
// per (camera, Gaussian); the backward one thread per Gaussian, looping over the cameras, so
// gradients are summed over cameras without atomics (as the CPU backward does per thread).
#include <cuda_runtime.h>

#include "projection_cuda.h"
#include "splat3d/projection_math.h"
#include "splat3d/sh_math.h"

namespace splat3d {
namespace {

constexpr int kThreads = 256;

// Camera c from viewmats [C,4,4] and Ks [C,3,3]; campos = -Rᵀ t.
template <typename T>
__device__ void load_camera(const CudaProjectionInputs& in, const T* viewmats, const T* Ks,
                            int64_t c, PinholeCamera<T>& cam, T* campos) {
  const T* v = viewmats + 16 * c;
  const T* k = Ks + 9 * c;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) cam.R[3 * i + j] = v[4 * i + j];
    cam.t[i] = v[4 * i + 3];
  }
  for (int j = 0; j < 3; ++j) {
    campos[j] = -(v[j] * v[3] + v[4 + j] * v[7] + v[8 + j] * v[11]);
  }
  cam.fx = k[0];
  cam.fy = k[4];
  cam.cx = k[2];
  cam.cy = k[5];
  cam.width = in.width;
  cam.height = in.height;
  cam.set_limits();
}

template <typename T>
__global__ void project_forward_kernel(CudaProjectionInputs in, const T* means, const T* quats,
                                       const T* log_scales, const T* opacity_logits,
                                       const T* sh, const T* viewmats, const T* Ks, T* means2d,
                                       T* conics, T* opacities, T* features, T* extents,
                                       bool* valid, int32_t* radii) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= in.C * in.N) return;
  const int64_t c = i / in.N, n = i % in.N;
  PinholeCamera<T> cam;
  T campos[3];
  load_camera(in, viewmats, Ks, c, cam, campos);
  ProjectionState<T> st;
  Projected<T> out;
  project_forward(cam, means + 3 * n, quats + 4 * n, log_scales + 3 * n, opacity_logits[n],
                  T(in.near_plane), T(in.far_plane), in.antialiased, st, out);
  const int64_t FD = in.sh_degree >= 0 ? 4 : 1;
  if (in.sh_degree >= 0) {  // a colour that is not finite culls the Gaussian (sh_math.h)
    out.valid = out.valid && sh_color(in.sh_degree, sh + n * in.K * 3, means + 3 * n, campos,
                                      features + FD * i);
  }
  store_projected(out, i, FD, means2d, conics, opacities, features, extents, valid, radii);
}

template <typename T>
__global__ void project_backward_kernel(CudaProjectionInputs in, const T* means,
                                        const T* quats, const T* log_scales,
                                        const T* opacity_logits, const T* sh, const T* viewmats,
                                        const T* Ks, const T* g_means2d, const T* g_conics,
                                        const T* g_opacities, const T* g_features, T* g_means,
                                        T* g_quats, T* g_log_scales, T* g_logits, T* g_sh) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= in.N) return;
  const int64_t FD = in.sh_degree >= 0 ? 4 : 1;
  T gm[3] = {T(0), T(0), T(0)}, gq[4] = {T(0), T(0), T(0), T(0)};
  T gls[3] = {T(0), T(0), T(0)}, gl = T(0);
  T* gsh = in.sh_degree >= 0 ? g_sh + n * in.K * 3 : nullptr;
  if (gsh) {
    for (int64_t j = 0; j < in.K * 3; ++j) gsh[j] = T(0);
  }
  ProjectionState<T> st;
  Projected<T> out;
  for (int64_t c = 0; c < in.C; ++c) {
    PinholeCamera<T> cam;
    T campos[3];
    load_camera(in, viewmats, Ks, c, cam, campos);
    const int64_t i = c * in.N + n;
    project_forward(cam, means + 3 * n, quats + 4 * n, log_scales + 3 * n, opacity_logits[n],
                    T(in.near_plane), T(in.far_plane), in.antialiased, st, out,
                    /*with_extent=*/false);
    project_backward(cam, st, g_means2d + 2 * i, g_conics + 3 * i, g_opacities[i],
                     g_features[FD * i + FD - 1], gm, gq, gls, &gl);
    if (gsh) {
      sh_color_backward(in.sh_degree, sh + n * in.K * 3, means + 3 * n, campos,
                        g_features + FD * i, gsh, gm);
    }
  }
  for (int j = 0; j < 3; ++j) {
    g_means[3 * n + j] = gm[j];
    g_log_scales[3 * n + j] = gls[j];
  }
  for (int j = 0; j < 4; ++j) g_quats[4 * n + j] = gq[j];
  g_logits[n] = gl;
}

unsigned blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

template <typename T>
void launch_project_forward(const CudaProjectionInputs& in, const T* means, const T* quats,
                            const T* log_scales, const T* opacity_logits, const T* sh,
                            const T* viewmats, const T* Ks, T* means2d, T* conics, T* opacities,
                            T* features, T* extents, bool* valid, int32_t* radii,
                            cudaStream_t stream) {
  if (in.C * in.N == 0) return;
  project_forward_kernel<T><<<blocks(in.C * in.N), kThreads, 0, stream>>>(
      in, means, quats, log_scales, opacity_logits, sh, viewmats, Ks, means2d, conics,
      opacities, features, extents, valid, radii);
}

template <typename T>
void launch_project_backward(const CudaProjectionInputs& in, const T* means, const T* quats,
                             const T* log_scales, const T* opacity_logits, const T* sh,
                             const T* viewmats, const T* Ks, const T* g_means2d,
                             const T* g_conics, const T* g_opacities, const T* g_features,
                             T* g_means, T* g_quats, T* g_log_scales, T* g_logits, T* g_sh,
                             cudaStream_t stream) {
  if (in.N == 0) return;
  project_backward_kernel<T><<<blocks(in.N), kThreads, 0, stream>>>(
      in, means, quats, log_scales, opacity_logits, sh, viewmats, Ks, g_means2d, g_conics,
      g_opacities, g_features, g_means, g_quats, g_log_scales, g_logits, g_sh);
}

#define SPLAT3D_INSTANTIATE(T)                                                               \
  template void launch_project_forward<T>(const CudaProjectionInputs&, const T*, const T*,  \
                                          const T*, const T*, const T*, const T*, const T*,  \
                                          T*, T*, T*, T*, T*, bool*, int32_t*,               \
                                          cudaStream_t);                                     \
  template void launch_project_backward<T>(const CudaProjectionInputs&, const T*, const T*, \
                                           const T*, const T*, const T*, const T*, const T*, \
                                           const T*, const T*, const T*, const T*, T*, T*,   \
                                           T*, T*, T*, cudaStream_t);
SPLAT3D_INSTANTIATE(float)
SPLAT3D_INSTANTIATE(double)
#undef SPLAT3D_INSTANTIATE

}  // namespace splat3d
