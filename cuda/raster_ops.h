// Operator declarations of the splat3d native rasterizer, one implementation per device.
//
// Shapes: C cameras, N Gaussians, F feature channels (colour plus depth), P (tile, Gaussian)
// pairs, NT = C * tiles_y * tiles_x tiles. Tile t of camera c is numbered
// (c * tiles_y + ty) * tiles_x + tx, and gaussian_ids hold flattened c * N + n indices.
#pragma once

#include <ATen/ATen.h>

#include <tuple>
#include <vector>

namespace splat3d {

// (gaussian_ids [P], tile_starts [NT], tile_counts [NT]): every (tile, Gaussian) pair whose
// alpha >= 1/255 region (exact ellipse) reaches the tile's pixel centres, sorted by tile and
// then by depth.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height);

// (fsum [C,H,W,F], trans [C,H,W], last [C,H,W] int32): Σ alpha_i T_i f_i, final
// transmittance and, per pixel, one past the index (in its tile's list) of the last
// Gaussian that contributed.
std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width, int64_t height);

// (d means2d [C,N,2], d conics [C,N,3], d opacities [C,N], d features [C,N,F]).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_backward_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, const at::Tensor& fsum,
    const at::Tensor& trans, const at::Tensor& last, const at::Tensor& grad_fsum,
    const at::Tensor& grad_trans);

// Projection of N Gaussians into C cameras (viewmats [C,4,4] world-to-camera, Ks [C,3,3]).
// sh_degree < 0 skips colours (sh is then ignored). Returns means2d [C,N,2], conics [C,N,3],
// opacities [C,N], features [C,N,FD] (SH colour and depth, FD = 4; depth alone, FD = 1,
// without SH), extents [C,N,2], valid [C,N] bool and radii [C,N,2] int32 (gsplat's).
std::vector<at::Tensor> project_forward_cpu(const at::Tensor& means, const at::Tensor& quats,
                                            const at::Tensor& log_scales,
                                            const at::Tensor& opacity_logits,
                                            const at::Tensor& sh, const at::Tensor& viewmats,
                                            const at::Tensor& Ks, int64_t width, int64_t height,
                                            double near_plane, double far_plane,
                                            int64_t sh_degree, bool antialiased);

// Gradients (means, quats, log_scales, opacity_logits, sh) from those of the projection's
// differentiable outputs (means2d, conics, opacities, features).
std::vector<at::Tensor> project_backward_cpu(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& log_scales,
    const at::Tensor& opacity_logits, const at::Tensor& sh, const at::Tensor& viewmats,
    const at::Tensor& Ks, int64_t width, int64_t height, double near_plane, double far_plane,
    int64_t sh_degree, bool antialiased, const at::Tensor& g_means2d, const at::Tensor& g_conics,
    const at::Tensor& g_opacities, const at::Tensor& g_features);

// bin_gaussians_cpu's result from the scalar reference algorithm that the CUDA binning
// also runs (binning_math.h): one thread, a plain stable sort; for tests.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_reference_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height);

#ifdef SPLAT3D_WITH_CUDA
std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height);

std::vector<at::Tensor> project_forward_cuda(const at::Tensor& means, const at::Tensor& quats,
                                             const at::Tensor& log_scales,
                                             const at::Tensor& opacity_logits,
                                             const at::Tensor& sh, const at::Tensor& viewmats,
                                             const at::Tensor& Ks, int64_t width, int64_t height,
                                             double near_plane, double far_plane,
                                             int64_t sh_degree, bool antialiased);

std::vector<at::Tensor> project_backward_cuda(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& log_scales,
    const at::Tensor& opacity_logits, const at::Tensor& sh, const at::Tensor& viewmats,
    const at::Tensor& Ks, int64_t width, int64_t height, double near_plane, double far_plane,
    int64_t sh_degree, bool antialiased, const at::Tensor& g_means2d, const at::Tensor& g_conics,
    const at::Tensor& g_opacities, const at::Tensor& g_features);

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width, int64_t height);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_backward_cuda(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, const at::Tensor& fsum,
    const at::Tensor& trans, const at::Tensor& last, const at::Tensor& grad_fsum,
    const at::Tensor& grad_trans);
#endif

}  // namespace splat3d
