// Tensor-level entry points of the CUDA projection kernels (built only with CUDA support);
// same arguments and results as project_forward_cpu / project_backward_cpu.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../raster_ops.h"
#include "projection_cuda.h"

namespace splat3d {
namespace {

void check_cuda(std::initializer_list<const at::Tensor*> tensors, at::ScalarType dtype) {
  for (const at::Tensor* t : tensors) {
    TORCH_CHECK(t->is_cuda() && t->is_contiguous() && t->scalar_type() == dtype,
                "splat3d native projection (CUDA): inputs must be contiguous CUDA tensors of "
                "dtype ", dtype);
  }
}

CudaProjectionInputs inputs(const at::Tensor& means, const at::Tensor& sh,
                            const at::Tensor& viewmats, int64_t width, int64_t height,
                            double near_plane, double far_plane, int64_t sh_degree,
                            bool antialiased) {
  return {viewmats.size(0), means.size(0), sh_degree >= 0 ? sh.size(1) : 0, width, height,
          near_plane, far_plane, static_cast<int>(sh_degree), antialiased};
}

}  // namespace

std::vector<at::Tensor> project_forward_cuda(const at::Tensor& means, const at::Tensor& quats,
                                             const at::Tensor& log_scales,
                                             const at::Tensor& opacity_logits,
                                             const at::Tensor& sh, const at::Tensor& viewmats,
                                             const at::Tensor& Ks, int64_t width, int64_t height,
                                             double near_plane, double far_plane,
                                             int64_t sh_degree, bool antialiased) {
  const auto dtype = means.scalar_type();
  check_cuda({&means, &quats, &log_scales, &opacity_logits, &viewmats, &Ks}, dtype);
  if (sh_degree >= 0) check_cuda({&sh}, dtype);
  const c10::cuda::CUDAGuard guard(means.device());
  const auto in = inputs(means, sh, viewmats, width, height, near_plane, far_plane, sh_degree,
                         antialiased);
  const auto opts = means.options();
  const int64_t C = in.C, N = in.N, FD = sh_degree >= 0 ? 4 : 1;
  auto means2d = at::empty({C, N, 2}, opts), conics = at::empty({C, N, 3}, opts);
  auto opacities = at::empty({C, N}, opts), features = at::empty({C, N, FD}, opts);
  auto extents = at::empty({C, N, 2}, opts);
  auto valid = at::empty({C, N}, opts.dtype(at::kBool));
  auto radii = at::empty({C, N, 2}, opts.dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_forward_cuda", [&] {
    launch_project_forward<scalar_t>(
        in, means.data_ptr<scalar_t>(), quats.data_ptr<scalar_t>(),
        log_scales.data_ptr<scalar_t>(), opacity_logits.data_ptr<scalar_t>(),
        sh_degree >= 0 ? sh.data_ptr<scalar_t>() : nullptr, viewmats.data_ptr<scalar_t>(),
        Ks.data_ptr<scalar_t>(), means2d.data_ptr<scalar_t>(), conics.data_ptr<scalar_t>(),
        opacities.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(),
        extents.data_ptr<scalar_t>(), valid.data_ptr<bool>(), radii.data_ptr<int32_t>(),
        c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {means2d, conics, opacities, features, extents, valid, radii};
}

std::vector<at::Tensor> project_backward_cuda(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& log_scales,
    const at::Tensor& opacity_logits, const at::Tensor& sh, const at::Tensor& viewmats,
    const at::Tensor& Ks, int64_t width, int64_t height, double near_plane, double far_plane,
    int64_t sh_degree, bool antialiased, const at::Tensor& g_means2d, const at::Tensor& g_conics,
    const at::Tensor& g_opacities, const at::Tensor& g_features) {
  const auto dtype = means.scalar_type();
  check_cuda({&means, &quats, &log_scales, &opacity_logits, &viewmats, &Ks, &g_means2d,
              &g_conics, &g_opacities, &g_features}, dtype);
  if (sh_degree >= 0) check_cuda({&sh}, dtype);
  const c10::cuda::CUDAGuard guard(means.device());
  const auto in = inputs(means, sh, viewmats, width, height, near_plane, far_plane, sh_degree,
                         antialiased);
  auto g_means = at::empty_like(means), g_quats = at::empty_like(quats);
  auto g_log_scales = at::empty_like(log_scales), g_logits = at::empty_like(opacity_logits);
  auto g_sh = sh_degree >= 0 ? at::empty_like(sh) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_backward_cuda", [&] {
    launch_project_backward<scalar_t>(
        in, means.data_ptr<scalar_t>(), quats.data_ptr<scalar_t>(),
        log_scales.data_ptr<scalar_t>(), opacity_logits.data_ptr<scalar_t>(),
        sh_degree >= 0 ? sh.data_ptr<scalar_t>() : nullptr, viewmats.data_ptr<scalar_t>(),
        Ks.data_ptr<scalar_t>(), g_means2d.data_ptr<scalar_t>(), g_conics.data_ptr<scalar_t>(),
        g_opacities.data_ptr<scalar_t>(), g_features.data_ptr<scalar_t>(),
        g_means.data_ptr<scalar_t>(), g_quats.data_ptr<scalar_t>(),
        g_log_scales.data_ptr<scalar_t>(), g_logits.data_ptr<scalar_t>(),
        sh_degree >= 0 ? g_sh.data_ptr<scalar_t>() : nullptr, c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {g_means, g_quats, g_log_scales, g_logits, g_sh};
}

}  // namespace splat3d
