// Python bindings of the splat3d native rasterizer, dispatching on the tensors' device.
#include <torch/extension.h>

#include "raster_ops.h"

namespace splat3d {
namespace {

[[noreturn]] void no_cuda(const char* op) {
  TORCH_CHECK(false, "splat3d native ", op,
              ": got CUDA tensors, but the extension was not compiled with CUDA support "
              "(build it on a machine with a CUDA toolkit and CUDA-enabled torch)");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width,
    int64_t height) {
  if (features.is_cuda()) {
#ifdef SPLAT3D_WITH_CUDA
    return composite_forward_cuda(means2d, conics, opacities, features, extents, gaussian_ids,
                                  tile_starts, tile_counts, width, height);
#else
    no_cuda("composite_forward");
#endif
  }
  return composite_forward_cpu(means2d, conics, opacities, features, extents, gaussian_ids,
                               tile_starts, tile_counts, width, height);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_backward(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, const at::Tensor& fsum,
    const at::Tensor& trans, const at::Tensor& last, const at::Tensor& grad_fsum,
    const at::Tensor& grad_trans) {
  if (features.is_cuda()) {
#ifdef SPLAT3D_WITH_CUDA
    return composite_backward_cuda(means2d, conics, opacities, features, extents,
                                   gaussian_ids, tile_starts, tile_counts, fsum, trans, last,
                                   grad_fsum, grad_trans);
#else
    no_cuda("composite_backward");
#endif
  }
  return composite_backward_cpu(means2d, conics, opacities, features, extents, gaussian_ids,
                                tile_starts, tile_counts, fsum, trans, last, grad_fsum,
                                grad_trans);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height) {
  if (means2d.is_cuda()) {
#ifdef SPLAT3D_WITH_CUDA
    return bin_gaussians_cuda(means2d, conics, opacities, extents, depths, valid, width, height);
#else
    no_cuda("bin_gaussians");
#endif
  }
  return bin_gaussians_cpu(means2d, conics, opacities, extents, depths, valid, width, height);
}

std::vector<at::Tensor> project_forward(const at::Tensor& means, const at::Tensor& quats,
                                        const at::Tensor& log_scales,
                                        const at::Tensor& opacity_logits, const at::Tensor& sh,
                                        const at::Tensor& viewmats, const at::Tensor& Ks,
                                        int64_t width, int64_t height, double near_plane,
                                        double far_plane, int64_t sh_degree, bool antialiased) {
  if (means.is_cuda()) {
#ifdef SPLAT3D_WITH_CUDA
    return project_forward_cuda(means, quats, log_scales, opacity_logits, sh, viewmats, Ks,
                                width, height, near_plane, far_plane, sh_degree, antialiased);
#else
    no_cuda("project_forward");
#endif
  }
  return project_forward_cpu(means, quats, log_scales, opacity_logits, sh, viewmats, Ks, width,
                             height, near_plane, far_plane, sh_degree, antialiased);
}

std::vector<at::Tensor> project_backward(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& log_scales,
    const at::Tensor& opacity_logits, const at::Tensor& sh, const at::Tensor& viewmats,
    const at::Tensor& Ks, int64_t width, int64_t height, double near_plane, double far_plane,
    int64_t sh_degree, bool antialiased, const at::Tensor& g_means2d, const at::Tensor& g_conics,
    const at::Tensor& g_opacities, const at::Tensor& g_features) {
  if (means.is_cuda()) {
#ifdef SPLAT3D_WITH_CUDA
    return project_backward_cuda(means, quats, log_scales, opacity_logits, sh, viewmats, Ks,
                                 width, height, near_plane, far_plane, sh_degree, antialiased,
                                 g_means2d, g_conics, g_opacities, g_features);
#else
    no_cuda("project_backward");
#endif
  }
  return project_backward_cpu(means, quats, log_scales, opacity_logits, sh, viewmats, Ks, width,
                              height, near_plane, far_plane, sh_degree, antialiased, g_means2d,
                              g_conics, g_opacities, g_features);
}

}  // namespace
}  // namespace splat3d

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "splat3d native rasterizer kernels (CPU; CUDA when compiled with it)";
  m.def("bin_gaussians", &splat3d::bin_gaussians, "Exact ellipse-tile binning, depth-sorted");
  m.def("bin_gaussians_reference", &splat3d::bin_gaussians_reference_cpu,
        "bin_gaussians by the scalar reference algorithm of the CUDA binning (CPU, for tests)");
  m.def("composite_forward", &splat3d::composite_forward, "Tile compositing, forward");
  m.def("composite_backward", &splat3d::composite_backward, "Tile compositing, backward");
  m.def("project_forward", &splat3d::project_forward, "EWA projection and SH colours");
  m.def("project_backward", &splat3d::project_backward, "EWA projection, backward");
  m.def("has_cuda", [] {
#ifdef SPLAT3D_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}
