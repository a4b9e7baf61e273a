// Projection of every Gaussian into every camera on the CPU, forward and backward.
//
// The per-(camera, Gaussian) math is projection_math.h and sh_math.h, shared with CUDA.
// Threads split the Gaussians; each handles all cameras of its Gaussians, so the backward
// pass sums gradients over cameras without any sharing between threads. float32 runs the
// same math on packs of eight Gaussians (F8, lanes.h), one per SIMD lane; float64, used for
// checking, runs it one Gaussian at a time.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../raster_ops.h"
#include "lanes.h"
#include "parallel.h"
#include "splat3d/projection_math.h"
#include "splat3d/sh_math.h"

namespace splat3d {
namespace {

constexpr int64_t kGrain = 256;  // Gaussians per parallel task (a multiple of kLanes)

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

// The parameters of Gaussians [n0, n0 + count) of N as packs (the last repeated in spare
// lanes).
struct GaussianPack {
  F8 mean[3], quat[4], log_scale[3], logit, coeffs[48];
  GaussianPack(const float* m, const float* q, const float* ls, const float* ol,
               const float* sh, int64_t K, int k_used, int64_t n0, int count, int64_t N) {
    const int64_t left = N - n0;
    load_records(m + 3 * n0, count, 3, 3, 3 * left, mean);
    load_records(q + 4 * n0, count, 4, 4, 4 * left, quat);
    load_records(ls + 3 * n0, count, 3, 3, 3 * left, log_scale);
    load_records(ol + n0, count, 1, 1, left, &logit);
    if (sh) load_records(sh + 3 * K * n0, count, 3 * K, 3 * k_used, 3 * K * left, coeffs);
  }
};

// The float32 inputs of both passes, handed to threads as packs of eight Gaussians.
struct PackedInputs {
  const float *m, *q, *ls, *ol, *sh;  // sh is null without colours
  int64_t N, K;
  int k_used;                           // SH coefficients evaluated per channel
  std::vector<PinholeCamera<F8>> cams;  // every field broadcast to the lanes
  std::vector<F8> campos;
  F8 near, far;

  // fn(g, n0, count, st, out) for every pack g of Gaussians [n0, n0 + count), with
  // per-thread scratch st and out.
  template <typename Fn>
  void for_each_pack(const Fn& fn) const {
    parallel_for((N + kLanes - 1) / kLanes, kGrain / kLanes, [&](int64_t begin, int64_t end) {
      ProjectionState<F8> st;
      Projected<F8> out;
      for (int64_t p = begin; p < end; ++p) {
        const int64_t n0 = p * kLanes;
        const int count = static_cast<int>(std::min<int64_t>(kLanes, N - n0));
        fn(GaussianPack(m, q, ls, ol, sh, K, k_used, n0, count, N), n0, count, st, out);
      }
    });
  }
};

PackedInputs pack_inputs(const float* m, const float* q, const float* ls, const float* ol,
                         const float* sh, int64_t N, int64_t K, int64_t sh_degree,
                         const std::vector<PinholeCamera<float>>& cams,
                         const std::vector<float>& campos, double near_plane,
                         double far_plane) {
  PackedInputs in{m, q, ls, ol, sh, N, K, sh ? int((sh_degree + 1) * (sh_degree + 1)) : 0,
                  std::vector<PinholeCamera<F8>>(cams.size()),
                  std::vector<F8>(campos.begin(), campos.end()),
                  F8(static_cast<float>(near_plane)), F8(static_cast<float>(far_plane))};
  for (size_t c = 0; c < cams.size(); ++c) {
    const PinholeCamera<float>& a = cams[c];
    PinholeCamera<F8>& b = in.cams[c];
    for (int i = 0; i < 9; ++i) b.R[i] = a.R[i];
    for (int i = 0; i < 3; ++i) b.t[i] = a.t[i];
    b.fx = a.fx, b.fy = a.fy, b.cx = a.cx, b.cy = a.cy;
    b.width = a.width, b.height = a.height;
    b.lim_x_pos = a.lim_x_pos, b.lim_x_neg = a.lim_x_neg;
    b.lim_y_pos = a.lim_y_pos, b.lim_y_neg = a.lim_y_neg;
  }
  return in;
}

// SH degrees 0..3 (sh_math.h) with the coefficients they need, or < 0 for no colours.
void check_sh(const at::Tensor& sh, int64_t sh_degree) {
  TORCH_CHECK(sh_degree <= 3 && (sh_degree < 0 || (sh.dim() == 3 && sh.size(2) == 3 &&
                                                   sh.size(1) >= (sh_degree + 1) * (sh_degree + 1))),
              "splat3d native projection: SH degree ", sh_degree, " needs sh of shape [N, >= ",
              (sh_degree + 1) * (sh_degree + 1), ", 3] (degrees 0..3), got ", sh.sizes());
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
  check_sh(sh, sh_degree);
  const int64_t C = viewmats.size(0), N = means.size(0);
  const auto opts = means.options();
  auto means2d = at::empty({C, N, 2}, opts), conics = at::empty({C, N, 3}, opts);
  auto opacities = at::empty({C, N}, opts);
  auto extents = at::empty({C, N, 2}, opts);
  auto valid = at::empty({C, N}, opts.dtype(at::kBool));
  auto radii = at::empty({C, N, 2}, opts.dtype(at::kInt));
  const int64_t FD = sh_degree >= 0 ? 4 : 1;  // SH colour (3) and depth, or depth alone
  auto features = at::empty({C, N, FD}, opts);
  // a generic lambda, so the float-only pack path below is compiled for float alone
  const auto kernel = [&](auto type_tag) {
    using T = decltype(type_tag);
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
    if constexpr (std::is_same_v<T, float>) {
      const PackedInputs in = pack_inputs(m, q, ls, ol, coeffs, N, K, sh_degree, cams, campos,
                                          near_plane, far_plane);
      in.for_each_pack([&](const GaussianPack& g, int64_t n0, int count,
                           ProjectionState<F8>& st, Projected<F8>& out) {
        for (int64_t c = 0; c < C; ++c) {
          project_forward(in.cams[c], g.mean, g.quat, g.log_scale, g.logit, in.near, in.far,
                          antialiased, st, out);
          const int64_t i0 = c * N + n0;
          store_records(out.means2d, 2, o_m2 + 2 * i0, 2, count);
          store_records(out.extent, 2, o_ext + 2 * i0, 2, count);
          store_records(out.conic, 3, o_con + 3 * i0, 3, count);
          store_records(&out.opacity, 1, o_op + i0, 1, count);
          F8 feature[4];  // colour and depth, or depth alone
          feature[FD - 1] = out.depth;
          if (coeffs) {
            out.valid = out.valid & sh_color(int(sh_degree), g.coeffs, g.mean,
                                             in.campos.data() + 3 * c, feature);
          }
          store_records(feature, int(FD), o_f + FD * i0, FD, count);
          for (int l = 0; l < count; ++l) {
            const bool ok = out.valid.lane(l);
            o_ok[i0 + l] = ok;
            o_r[2 * (i0 + l)] = ok ? gsplat_radius(out.extent[0][l]) : 0;
            o_r[2 * (i0 + l) + 1] = ok ? gsplat_radius(out.extent[1][l]) : 0;
          }
        }
      });
      return;
    }
    parallel_for(N, kGrain, [&](int64_t begin, int64_t end) {
      ProjectionState<T> st;
      Projected<T> out;
      for (int64_t n = begin; n < end; ++n) {
        for (int64_t c = 0; c < C; ++c) {
          project_forward(cams[c], m + 3 * n, q + 4 * n, ls + 3 * n, ol[n], T(near_plane),
                          T(far_plane), antialiased, st, out);
          const int64_t i = c * N + n;
          if (coeffs) {
            out.valid = out.valid && sh_color(int(sh_degree), coeffs + n * K * 3, m + 3 * n,
                                              campos.data() + 3 * c, o_f + FD * i);
          }
          store_projected(out, i, FD, o_m2, o_con, o_op, o_f, o_ext, o_ok, o_r);
        }
      }
    });
  };
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_forward_cpu", [&] { kernel(scalar_t(0)); });
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
  check_sh(sh, sh_degree);
  const int64_t FD = sh_degree >= 0 ? 4 : 1;
  TORCH_CHECK(g_features.dim() == 3 && g_features.size(2) == FD,
              "splat3d native projection: grad features must be [C, N, ", FD, "]");
  const int64_t C = viewmats.size(0), N = means.size(0);
  // every row is zeroed by the thread that fills it (no separate pass over g_sh)
  auto g_means = at::empty_like(means), g_quats = at::empty_like(quats);
  auto g_log_scales = at::empty_like(log_scales), g_logits = at::empty_like(opacity_logits);
  auto g_sh = sh_degree >= 0 ? at::empty_like(sh) : at::Tensor();
  // a generic lambda, so the float-only pack path below is compiled for float alone
  const auto kernel = [&](auto type_tag) {
    using T = decltype(type_tag);
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
    if constexpr (std::is_same_v<T, float>) {
      const PackedInputs in = pack_inputs(m, q, ls, ol, coeffs, N, K, sh_degree, cams, campos,
                                          near_plane, far_plane);
      in.for_each_pack([&](const GaussianPack& g, int64_t n0, int count,
                           ProjectionState<F8>& st, Projected<F8>& out) {
        F8 gm[3] = {0.0f, 0.0f, 0.0f}, gq[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        F8 gls[3] = {0.0f, 0.0f, 0.0f}, gl = 0.0f, gsh[48];
        for (int j = 0; j < 3 * in.k_used; ++j) gsh[j] = 0.0f;
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i0 = c * N + n0, left = C * N - i0;
          F8 g_m2[2], g_con[3], g_op, g_f[4];
          load_records(gm2 + 2 * i0, count, 2, 2, 2 * left, g_m2);
          load_records(gcon + 3 * i0, count, 3, 3, 3 * left, g_con);
          load_records(gop + i0, count, 1, 1, left, &g_op);
          load_records(gf + FD * i0, count, FD, int(FD), FD * left, g_f);
          project_forward(in.cams[c], g.mean, g.quat, g.log_scale, g.logit, in.near, in.far,
                          antialiased, st, out, /*with_extent=*/false);
          project_backward(in.cams[c], st, g_m2, g_con, g_op, g_f[FD - 1], gm, gq, gls, &gl);
          if (coeffs) {
            sh_color_backward(int(sh_degree), g.coeffs, g.mean, in.campos.data() + 3 * c,
                              g_f, gsh, gm);
          }
        }
        store_records(gm, 3, o_m + 3 * n0, 3, count);
        store_records(gls, 3, o_ls + 3 * n0, 3, count);
        store_records(gq, 4, o_q + 4 * n0, 4, count);
        store_records(&gl, 1, o_l + n0, 1, count);
        if (o_sh) {
          store_records(gsh, 3 * in.k_used, o_sh + 3 * K * n0, 3 * K, count);
          for (int l = 0; l < count; ++l) {  // coefficients above the degree get no gradient
            std::fill(o_sh + (n0 + l) * K * 3 + 3 * in.k_used, o_sh + (n0 + l + 1) * K * 3,
                      0.0f);
          }
        }
      });
      return;
    }
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
  };
  AT_DISPATCH_FLOATING_TYPES(dtype, "project_backward_cpu", [&] { kernel(scalar_t(0)); });
  return {g_means, g_quats, g_log_scales, g_logits, g_sh};
}

}  // namespace splat3d
