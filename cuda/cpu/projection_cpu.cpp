// Projection of every Gaussian into every camera on the CPU, forward and backward.
//
// The per-(camera, Gaussian) math is projection_math.h and sh_math.h, shared with CUDA.
// Threads split the Gaussians; each handles all cameras of its Gaussians, so the backward
// pass sums gradients over cameras without any sharing between threads.
#include <ATen/ATen.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../raster_ops.h"
#include "parallel.h"
#include "splat3d/projection_math.h"
#include "splat3d/sh_math.h"

namespace splat3d {
namespace {

constexpr int64_t kGrain = 256;  // Gaussians per parallel task

template <typename T>
std::vector<PinholeCamera<T>> read_cameras(const at::Tensor& viewmats, const at::Tensor& Ks,
                                           int64_t width, int64_t height,
                                           std::vector<T>* campos) {
  const auto V = viewmats.to(at::kDouble).contiguous(), K = Ks.to(at::kDouble).contiguous();
  const double* v = V.data_ptr<double>();
  const double* k = K.data_ptr<double>();
  const int64_t C = viewmats.size(0);
  std::vector<PinholeCamera<T>> cams(C);
  campos->assign(3 * C, T(0));
  for (int64_t c = 0; c < C; ++c) {
    PinholeCamera<T>& cam = cams[c];
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) cam.R[3 * i + j] = T(v[16 * c + 4 * i + j]);
      cam.t[i] = T(v[16 * c + 4 * i + 3]);
    }
    // centre = -Rᵀ t, computed in double like the rigid inverse of Cameras.cam_to_world
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int i = 0; i < 3; ++i) s -= v[16 * c + 4 * i + j] * v[16 * c + 4 * i + 3];
      (*campos)[3 * c + j] = T(s);
    }
    cam.fx = T(k[9 * c]);
    cam.fy = T(k[9 * c + 4]);
    cam.cx = T(k[9 * c + 2]);
    cam.cy = T(k[9 * c + 5]);
    cam.width = width;
    cam.height = height;
    cam.set_limits();
  }
  return cams;
}

// gsplat's integer radius: ceil of the extent, converted like torch's float -> int32 cast on
// x86 (out-of-range values give INT32_MIN).
template <typename T>
int32_t radius(T extent) {
  const double r = std::ceil(double(extent));
  return r >= -2147483648.0 && r < 2147483648.0 ? static_cast<int32_t>(r) : INT32_MIN;
}

void check(const at::Tensor& t, at::ScalarType dtype, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == dtype,
              "splat3d native projection: ", name, " must be a contiguous CPU tensor of dtype ",
              dtype, ", got ", t.scalar_type(), t.is_contiguous() ? "" : " (not contiguous)");
}

}  // namespace

std::vector<at::Tensor> project_forward_cpu(const at::Tensor& means, const at::Tensor& quats,
                                            const at::Tensor& log_scales,
                                            const at::Tensor& opacity_logits,
                                            const at::Tensor& sh, const at::Tensor& viewmats,
                                            const at::Tensor& Ks, int64_t width, int64_t height,
                                            double near_plane, double far_plane,
                                            int64_t sh_degree, bool antialiased) {
  const auto dtype = means.scalar_type();
  check(means, dtype, "means");
  check(quats, dtype, "quats");
  check(log_scales, dtype, "log_scales");
  check(opacity_logits, dtype, "opacity_logits");
  if (sh_degree >= 0) check(sh, dtype, "sh");
  const int64_t C = viewmats.size(0), N = means.size(0);
  const auto opts = means.options();
  auto means2d = at::empty({C, N, 2}, opts), conics = at::empty({C, N, 3}, opts);
  auto opacities = at::empty({C, N}, opts);
  auto extents = at::empty({C, N, 2}, opts);
  auto valid = at::empty({C, N}, opts.dtype(at::kBool));
  auto radii = at::empty({C, N, 2}, opts.dtype(at::kInt));
  const int64_t FD = sh_degree >= 0 ? 4 : 1;  // SH colour (3) and depth, or depth alone
  auto features = at::empty({C, N, FD}, opts);
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_forward_cpu", [&] {
    using T = scalar_t;
    std::vector<T> campos;
    const auto cams = read_cameras<T>(viewmats, Ks, width, height, &campos);
    const T* m = means.data_ptr<T>();
    const T* q = quats.data_ptr<T>();
    const T* ls = log_scales.data_ptr<T>();
    const T* ol = opacity_logits.data_ptr<T>();
    const T* coeffs = sh_degree >= 0 ? sh.data_ptr<T>() : nullptr;
    const int64_t K = sh_degree >= 0 ? sh.size(1) : 0;
    T* o_m2 = means2d.data_ptr<T>();
    T* o_con = conics.data_ptr<T>();
    T* o_op = opacities.data_ptr<T>();
    T* o_f = features.data_ptr<T>();
    T* o_ext = extents.data_ptr<T>();
    bool* o_ok = valid.data_ptr<bool>();
    int32_t* o_r = radii.data_ptr<int32_t>();
    parallel_for(N, kGrain, [&](int64_t begin, int64_t end) {
      ProjectionState<T> st;
      Projected<T> out;
      for (int64_t n = begin; n < end; ++n) {
        for (int64_t c = 0; c < C; ++c) {
          project_forward(cams[c], m + 3 * n, q + 4 * n, ls + 3 * n, ol[n], T(near_plane),
                          T(far_plane), antialiased, st, out);
          const int64_t i = c * N + n;
          o_m2[2 * i] = out.means2d[0];
          o_m2[2 * i + 1] = out.means2d[1];
          for (int j = 0; j < 3; ++j) o_con[3 * i + j] = out.conic[j];
          o_op[i] = out.opacity;
          o_f[FD * i + FD - 1] = out.depth;
          o_ext[2 * i] = out.extent[0];
          o_ext[2 * i + 1] = out.extent[1];
          o_ok[i] = out.valid;
          o_r[2 * i] = out.valid ? radius(out.extent[0]) : 0;
          o_r[2 * i + 1] = out.valid ? radius(out.extent[1]) : 0;
          if (coeffs) {
            sh_color(int(sh_degree), coeffs + n * K * 3, m + 3 * n, campos.data() + 3 * c,
                     o_f + FD * i);
          }
        }
      }
    });
  });
  return {means2d, conics, opacities, features, extents, valid, radii};
}

std::vector<at::Tensor> project_backward_cpu(
    const at::Tensor& means, const at::Tensor& quats, const at::Tensor& log_scales,
    const at::Tensor& opacity_logits, const at::Tensor& sh, const at::Tensor& viewmats,
    const at::Tensor& Ks, int64_t width, int64_t height, double near_plane, double far_plane,
    int64_t sh_degree, bool antialiased, const at::Tensor& g_means2d, const at::Tensor& g_conics,
    const at::Tensor& g_opacities, const at::Tensor& g_features) {
  const auto dtype = means.scalar_type();
  check(g_means2d, dtype, "grad means2d");
  check(g_conics, dtype, "grad conics");
  check(g_opacities, dtype, "grad opacities");
  check(g_features, dtype, "grad features");
  const int64_t FD = sh_degree >= 0 ? 4 : 1;
  TORCH_CHECK(g_features.dim() == 3 && g_features.size(2) == FD,
              "splat3d native projection: grad features must be [C, N, ", FD, "]");
  const int64_t C = viewmats.size(0), N = means.size(0);
  // every row is zeroed by the thread that fills it (no separate pass over g_sh)
  auto g_means = at::empty_like(means), g_quats = at::empty_like(quats);
  auto g_log_scales = at::empty_like(log_scales), g_logits = at::empty_like(opacity_logits);
  auto g_sh = sh_degree >= 0 ? at::empty_like(sh) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_backward_cpu", [&] {
    using T = scalar_t;
    std::vector<T> campos;
    const auto cams = read_cameras<T>(viewmats, Ks, width, height, &campos);
    const T* m = means.data_ptr<T>();
    const T* q = quats.data_ptr<T>();
    const T* ls = log_scales.data_ptr<T>();
    const T* ol = opacity_logits.data_ptr<T>();
    const T* coeffs = sh_degree >= 0 ? sh.data_ptr<T>() : nullptr;
    const int64_t K = sh_degree >= 0 ? sh.size(1) : 0;
    const T* gm2 = g_means2d.data_ptr<T>();
    const T* gcon = g_conics.data_ptr<T>();
    const T* gop = g_opacities.data_ptr<T>();
    const T* gf = g_features.data_ptr<T>();
    T* o_m = g_means.data_ptr<T>();
    T* o_q = g_quats.data_ptr<T>();
    T* o_ls = g_log_scales.data_ptr<T>();
    T* o_l = g_logits.data_ptr<T>();
    T* o_sh = sh_degree >= 0 ? g_sh.data_ptr<T>() : nullptr;
    parallel_for(N, kGrain, [&](int64_t begin, int64_t end) {
      ProjectionState<T> st;
      Projected<T> out;
      for (int64_t n = begin; n < end; ++n) {
        std::fill(o_m + 3 * n, o_m + 3 * n + 3, T(0));
        std::fill(o_q + 4 * n, o_q + 4 * n + 4, T(0));
        std::fill(o_ls + 3 * n, o_ls + 3 * n + 3, T(0));
        o_l[n] = T(0);
        if (o_sh) std::fill(o_sh + n * K * 3, o_sh + (n + 1) * K * 3, T(0));
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = c * N + n;
          project_forward(cams[c], m + 3 * n, q + 4 * n, ls + 3 * n, ol[n], T(near_plane),
                          T(far_plane), antialiased, st, out, /*with_extent=*/false);
          project_backward(cams[c], st, gm2 + 2 * i, gcon + 3 * i, gop[i], gf[FD * i + FD - 1], o_m + 3 * n,
                           o_q + 4 * n, o_ls + 3 * n, o_l + n);
          if (coeffs) {
            sh_color_backward(int(sh_degree), coeffs + n * K * 3, m + 3 * n,
                              campos.data() + 3 * c, gf + FD * i, o_sh + n * K * 3, o_m + 3 * n);
          }
        }
      }
    });
  });
  return {g_means, g_quats, g_log_scales, g_logits, g_sh};
}

}  // namespace splat3d
