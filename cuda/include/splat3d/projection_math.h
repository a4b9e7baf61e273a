// EWA projection of one 3D Gaussian into one camera (Zwicker et al., 2001; Kerbl et al.,
// 2023) and its hand-derived vector-Jacobian product, with the exact semantics of
// splat3d/raster/projection.py (gsplat v1.5 fully_fused_projection): the Jacobian is taken
// at the mean with x/z, y/z clamped 30% of the half-fov beyond the image, the 2D covariance
// is dilated by 0.3 px^2, antialiased mode scales opacity by sqrt(det Σ / det(Σ + 0.3 I))
// (Mip-Splatting, Yu et al., 2024), and Gaussians outside [near, far] keep finite values.
//
// T is a scalar (float, double) or a CPU pack of Gaussians (cpu/lanes.h): branches on
// per-Gaussian values are select() and the flags are MaskOf<T> (raster_math.h).
#pragma once

#include "splat3d/raster_math.h"

namespace splat3d {

constexpr double kEps2d = 0.3;  // projection.EPS2D

template <typename T>
struct PinholeCamera {
  T R[9];  // world-to-camera rotation, row-major
  T t[3];
  T fx, fy, cx, cy;
  int64_t width, height;
  // x/z, y/z clamp limits of the Jacobian (set_limits): |x/z| beyond them is clamped
  T lim_x_pos, lim_x_neg, lim_y_pos, lim_y_neg;

  // Computes the clamp limits from the intrinsics and the image size.
  SPLAT3D_HD void set_limits() {
    const T W = T(width), H = T(height);
    lim_x_pos = (W - cx) / fx + T(0.3) * (T(0.5) * W / fx);
    lim_x_neg = cx / fx + T(0.3) * (T(0.5) * W / fx);
    lim_y_pos = (H - cy) / fy + T(0.3) * (T(0.5) * H / fy);
    lim_y_neg = cy / fy + T(0.3) * (T(0.5) * H / fy);
  }
};

// Everything the backward pass needs, recomputed from the parameters (project_forward with
// with_extent = false skips the extent and the validity, which only the forward needs).
template <typename T>
struct ProjectionState {
  T mc[3];          // camera-space mean
  T z, inv_z;       // depth used in the Jacobian (1 when out of [near, far]), 1 / z
  MaskOf<T> in_depth;
  T ux, uy;         // clamped x/z, y/z
  MaskOf<T> free_x, free_y;  // the clamp was inactive
  T qn[4], qlen;    // normalised quaternion and the norm it was divided by
  T Rq[9], s[3];    // rotation and scales of the Gaussian
  T cov[9];         // camera-space covariance
  T J0[3], J1[3];   // rows of the 2x3 Jacobian
  T a, b, c;        // undilated 2D covariance
  T det_raw, det;   // determinants before and after dilation
  T inv_det;        // 1 / det
  T sig, comp;      // sigmoid(opacity logit), antialiasing compensation (1 when off)
  bool antialiased;
  MaskOf<T> comp_ok;
};

template <typename T>
struct Projected {
  T means2d[2], conic[3], opacity, depth, extent[2];
  MaskOf<T> valid;
};

template <typename T>
SPLAT3D_HD void rotmat_from_unit_quat(const T* q, T* R) {
  const T w = q[0], x = q[1], y = q[2], z = q[3];
  R[0] = T(1) - T(2) * (y * y + z * z);
  R[1] = T(2) * (x * y - w * z);
  R[2] = T(2) * (x * z + w * y);
  R[3] = T(2) * (x * y + w * z);
  R[4] = T(1) - T(2) * (x * x + z * z);
  R[5] = T(2) * (y * z - w * x);
  R[6] = T(2) * (x * z - w * y);
  R[7] = T(2) * (y * z + w * x);
  R[8] = T(1) - T(2) * (x * x + y * y);
}

template <typename T>
SPLAT3D_HD void project_forward(const PinholeCamera<T>& cam, const T* mean, const T* quat,
                                const T* log_scale, T opacity_logit, T near_plane, T far_plane,
                                bool antialiased, ProjectionState<T>& st, Projected<T>& out,
                                bool with_extent = true) {
  for (int i = 0; i < 3; ++i) {
    st.mc[i] = cam.R[3 * i] * mean[0] + cam.R[3 * i + 1] * mean[1] +
               cam.R[3 * i + 2] * mean[2] + cam.t[i];
  }
  const T x = st.mc[0], y = st.mc[1];
  st.in_depth = (st.mc[2] > near_plane) & (st.mc[2] < far_plane);
  const T z = select(st.in_depth, st.mc[2], T(1));
  st.z = z;
  st.inv_z = T(1) / z;
  const T inv_z = st.inv_z;
  const T lim_x_pos = cam.lim_x_pos, lim_x_neg = cam.lim_x_neg;
  const T lim_y_pos = cam.lim_y_pos, lim_y_neg = cam.lim_y_neg;
  const T rx = x * inv_z, ry = y * inv_z;
  st.free_x = (rx > -lim_x_neg) & (rx < lim_x_pos);
  st.free_y = (ry > -lim_y_neg) & (ry < lim_y_pos);
  st.ux = select(rx < -lim_x_neg, -lim_x_neg, select(rx > lim_x_pos, lim_x_pos, rx));
  st.uy = select(ry < -lim_y_neg, -lim_y_neg, select(ry > lim_y_pos, lim_y_pos, ry));
  st.J0[0] = cam.fx * inv_z;
  st.J0[1] = T(0);
  st.J0[2] = -cam.fx * st.ux * inv_z;
  st.J1[0] = T(0);
  st.J1[1] = cam.fy * inv_z;
  st.J1[2] = -cam.fy * st.uy * inv_z;

  // world covariance M Mᵀ with M = Rq diag(s), then camera covariance R Σ Rᵀ
  st.qlen = sqrt(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]);
  const T inv_q = T(1) / select(st.qlen > T(1e-12), st.qlen, T(1e-12));
  for (int i = 0; i < 4; ++i) st.qn[i] = quat[i] * inv_q;
  rotmat_from_unit_quat(st.qn, st.Rq);
  for (int i = 0; i < 3; ++i) st.s[i] = exp(log_scale[i]);
  T M[9], Sw[9], RS[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) M[3 * i + j] = st.Rq[3 * i + j] * st.s[j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      Sw[3 * i + j] = M[3 * i] * M[3 * j] + M[3 * i + 1] * M[3 * j + 1] + M[3 * i + 2] * M[3 * j + 2];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      RS[3 * i + j] = cam.R[3 * i] * Sw[j] + cam.R[3 * i + 1] * Sw[3 + j] + cam.R[3 * i + 2] * Sw[6 + j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      st.cov[3 * i + j] = RS[3 * i] * cam.R[3 * j] + RS[3 * i + 1] * cam.R[3 * j + 1] +
                          RS[3 * i + 2] * cam.R[3 * j + 2];

  T SJ0[3], SJ1[3];  // Σ J0ᵀ, Σ J1ᵀ
  for (int i = 0; i < 3; ++i) {
    SJ0[i] = st.cov[3 * i] * st.J0[0] + st.cov[3 * i + 1] * st.J0[1] + st.cov[3 * i + 2] * st.J0[2];
    SJ1[i] = st.cov[3 * i] * st.J1[0] + st.cov[3 * i + 1] * st.J1[1] + st.cov[3 * i + 2] * st.J1[2];
  }
  st.a = st.J0[0] * SJ0[0] + st.J0[1] * SJ0[1] + st.J0[2] * SJ0[2];
  st.b = st.J0[0] * SJ1[0] + st.J0[1] * SJ1[1] + st.J0[2] * SJ1[2];
  st.c = st.J1[0] * SJ1[0] + st.J1[1] * SJ1[1] + st.J1[2] * SJ1[2];
  st.det_raw = st.a * st.c - st.b * st.b;
  const T ad = st.a + T(kEps2d), cd = st.c + T(kEps2d);
  st.det = ad * cd - st.b * st.b;
  st.inv_det = T(1) / st.det;
  out.conic[0] = cd * st.inv_det;
  out.conic[1] = -st.b * st.inv_det;
  out.conic[2] = ad * st.inv_det;

  st.sig = T(1) / (T(1) + exp(-opacity_logit));
  st.comp = T(1);
  st.antialiased = antialiased;
  st.comp_ok = T(0) < T(1);  // true
  if (antialiased) {
    const T ratio = st.det_raw * st.inv_det;
    st.comp_ok = ratio > T(1e-12);
    st.comp = select(st.comp_ok, sqrt(ratio), T(0));
  }
  out.opacity = st.sig * st.comp;
  out.means2d[0] = cam.fx * x * inv_z + cam.cx;
  out.means2d[1] = cam.fy * y * inv_z + cam.cy;
  out.depth = st.mc[2];

  if (!with_extent) return;  // the backward pass needs only the state
  const T amin = Consts<T>::alpha_min;
  const T W = T(cam.width), H = T(cam.height);
  const T level = T(2) * log(select(out.opacity > amin, out.opacity, amin) / amin);
  out.extent[0] = sqrt(level * ad);
  out.extent[1] = sqrt(level * cd);
  const MaskOf<T> on_screen = (out.means2d[0] + out.extent[0] > T(0)) &
                              (out.means2d[0] - out.extent[0] < W) &
                              (out.means2d[1] + out.extent[1] > T(0)) &
                              (out.means2d[1] - out.extent[1] < H);
  out.valid = st.in_depth & (out.opacity >= amin) & on_screen & isfinite(out.extent[0]) &
              isfinite(out.extent[1]);
}

// gsplat's integer radius: ceil of the extent, converted like torch's float -> int32 cast on
// x86 (out-of-range values give INT32_MIN).
template <typename T>
SPLAT3D_HD int32_t gsplat_radius(T extent) {
  const double r = ceil(double(extent));
  return r >= -2147483648.0 && r < 2147483648.0 ? static_cast<int32_t>(r) : INT32_MIN;
}

// Writes one (camera, Gaussian) result at flat index i of the [C, N, ...] outputs (the
// colour channels of features [.., FD] are left to the SH code; radii are 0 when culled).
template <typename T>
SPLAT3D_HD void store_projected(const Projected<T>& out, int64_t i, int64_t FD, T* means2d,
                                T* conics, T* opacities, T* features, T* extents, bool* valid,
                                int32_t* radii) {
  means2d[2 * i] = out.means2d[0];
  means2d[2 * i + 1] = out.means2d[1];
  for (int j = 0; j < 3; ++j) conics[3 * i + j] = out.conic[j];
  opacities[i] = out.opacity;
  features[FD * i + FD - 1] = out.depth;
  extents[2 * i] = out.extent[0];
  extents[2 * i + 1] = out.extent[1];
  valid[i] = out.valid;
  radii[2 * i] = out.valid ? gsplat_radius(out.extent[0]) : 0;
  radii[2 * i + 1] = out.valid ? gsplat_radius(out.extent[1]) : 0;
}

// Adds the gradients of one camera's outputs (means2d, conic, opacity, depth) to the
// Gaussian's parameter gradients (mean, quat, log_scale, opacity logit).
template <typename T>
SPLAT3D_HD void project_backward(const PinholeCamera<T>& cam, const ProjectionState<T>& st,
                                 const T* g_means2d, const T* g_conic, T g_opacity, T g_depth,
                                 T* g_mean, T* g_quat, T* g_log_scale, T* g_logit) {
  const T x = st.mc[0], y = st.mc[1], inv_z = st.inv_z, inv_z2 = inv_z * inv_z;
  T g_x = g_means2d[0] * cam.fx * inv_z;
  T g_y = g_means2d[1] * cam.fy * inv_z;
  T g_z = -(g_means2d[0] * cam.fx * x + g_means2d[1] * cam.fy * y) * inv_z2;

  // opacity = sigmoid(logit) * comp, comp = sqrt(det_raw / det)
  *g_logit += g_opacity * st.comp * st.sig * (T(1) - st.sig);
  T g_det_raw = T(0), g_det = T(0);
  if (st.antialiased) {
    const T g_ratio = select(st.comp_ok, g_opacity * st.sig * T(0.5) / st.comp, T(0));
    g_det_raw += g_ratio * st.inv_det;
    g_det -= g_ratio * st.det_raw * (st.inv_det * st.inv_det);
  }
  // conic = (cd, -b, ad) / det with ad = a + eps, cd = c + eps
  const T ad = st.a + T(kEps2d), cd = st.c + T(kEps2d), b = st.b;
  g_det -= (g_conic[0] * cd - g_conic[1] * b + g_conic[2] * ad) * (st.inv_det * st.inv_det);
  const T g_a = g_conic[2] * st.inv_det + g_det * cd + g_det_raw * st.c;
  const T g_c = g_conic[0] * st.inv_det + g_det * ad + g_det_raw * st.a;
  const T g_b = -g_conic[1] * st.inv_det - T(2) * b * (g_det + g_det_raw);

  // a = J0 Σ J0ᵀ, b = J0 Σ J1ᵀ, c = J1 Σ J1ᵀ
  T SJ0[3], SJ1[3];
  for (int i = 0; i < 3; ++i) {
    SJ0[i] = st.cov[3 * i] * st.J0[0] + st.cov[3 * i + 1] * st.J0[1] + st.cov[3 * i + 2] * st.J0[2];
    SJ1[i] = st.cov[3 * i] * st.J1[0] + st.cov[3 * i + 1] * st.J1[1] + st.cov[3 * i + 2] * st.J1[2];
  }
  T gJ0[3], gJ1[3], g_cov[9];
  for (int i = 0; i < 3; ++i) {
    gJ0[i] = T(2) * g_a * SJ0[i] + g_b * SJ1[i];
    gJ1[i] = g_b * SJ0[i] + T(2) * g_c * SJ1[i];
    for (int j = 0; j < 3; ++j) {
      g_cov[3 * i + j] = g_a * st.J0[i] * st.J0[j] + g_b * st.J0[i] * st.J1[j] +
                         g_c * st.J1[i] * st.J1[j];
    }
  }
  // J00 = fx/z, J02 = -fx ux/z, J11 = fy/z, J12 = -fy uy/z
  g_z -= (gJ0[0] * cam.fx + gJ1[1] * cam.fy) * inv_z2;
  const T g_ux = -cam.fx * inv_z * gJ0[2], g_uy = -cam.fy * inv_z * gJ1[2];
  g_z += (cam.fx * st.ux * gJ0[2] + cam.fy * st.uy * gJ1[2]) * inv_z2;
  const T g_ux_free = select(st.free_x, g_ux, T(0)), g_uy_free = select(st.free_y, g_uy, T(0));
  g_x += g_ux_free * inv_z;
  g_z -= g_ux_free * x * inv_z2;
  g_y += g_uy_free * inv_z;
  g_z -= g_uy_free * y * inv_z2;
  const T g_mc[3] = {g_x, g_y, g_depth + select(st.in_depth, g_z, T(0))};
  for (int j = 0; j < 3; ++j) {
    g_mean[j] += cam.R[j] * g_mc[0] + cam.R[3 + j] * g_mc[1] + cam.R[6 + j] * g_mc[2];
  }

  // Σ_cam = R Σ_w Rᵀ  ->  H = Rᵀ g_cov R;  Σ_w = M Mᵀ  ->  g_M = (H + Hᵀ) M
  T tmp[9], Hs[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      tmp[3 * i + j] = cam.R[i] * g_cov[j] + cam.R[3 + i] * g_cov[3 + j] + cam.R[6 + i] * g_cov[6 + j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      Hs[3 * i + j] = tmp[3 * i] * cam.R[j] + tmp[3 * i + 1] * cam.R[3 + j] + tmp[3 * i + 2] * cam.R[6 + j];
  for (int i = 0; i < 3; ++i)
    for (int j = i; j < 3; ++j) {
      const T sym = Hs[3 * i + j] + Hs[3 * j + i];
      Hs[3 * i + j] = sym;
      Hs[3 * j + i] = sym;
    }
  T gR[9];
  T g_s[3] = {T(0), T(0), T(0)};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      // g_M[i][j] = Σ_k Hs[i][k] M[k][j], M[k][j] = Rq[k][j] s_j
      const T gM = (Hs[3 * i] * st.Rq[j] + Hs[3 * i + 1] * st.Rq[3 + j] +
                    Hs[3 * i + 2] * st.Rq[6 + j]) * st.s[j];
      gR[3 * i + j] = gM * st.s[j];
      g_s[j] += gM * st.Rq[3 * i + j];
    }
  for (int j = 0; j < 3; ++j) g_log_scale[j] += g_s[j] * st.s[j];

  const T w = st.qn[0], qx = st.qn[1], qy = st.qn[2], qz = st.qn[3];
  T gq[4];
  gq[0] = T(2) * (-qz * gR[1] + qy * gR[2] + qz * gR[3] - qx * gR[5] - qy * gR[6] + qx * gR[7]);
  gq[1] = T(2) * (qy * gR[1] + qz * gR[2] + qy * gR[3] - T(2) * qx * gR[4] - w * gR[5] +
                  qz * gR[6] + w * gR[7] - T(2) * qx * gR[8]);
  gq[2] = T(2) * (-T(2) * qy * gR[0] + qx * gR[1] + w * gR[2] + qx * gR[3] + qz * gR[5] -
                  w * gR[6] + qz * gR[7] - T(2) * qy * gR[8]);
  gq[3] = T(2) * (-T(2) * qz * gR[0] - w * gR[1] + qx * gR[2] + w * gR[3] - T(2) * qz * gR[4] +
                  qy * gR[5] + qx * gR[6] + qy * gR[7]);
  // qn = q / max(|q|, 1e-12)
  const T dot = gq[0] * w + gq[1] * qx + gq[2] * qy + gq[3] * qz;
  const MaskOf<T> unit = st.qlen > T(1e-12);
  const T inv = T(1) / select(unit, st.qlen, T(1e-12));
  for (int i = 0; i < 4; ++i) g_quat[i] += (gq[i] - select(unit, st.qn[i] * dot, T(0))) * inv;
}

}  // namespace splat3d
