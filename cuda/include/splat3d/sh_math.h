// Real spherical harmonics up to degree 3 (3DGS / gsplat sign convention, as
// splat3d/sh.py): colour = max(0, 0.5 + Σ_k B_k(dir) sh_k), and its vector-Jacobian product.
// T is a scalar or a CPU pack of Gaussians (cpu/lanes.h), as in projection_math.h.
#pragma once

#include "splat3d/raster_math.h"

namespace splat3d {

namespace sh {
constexpr double C0 = 0.28209479177387814;
constexpr double C1 = 0.4886025119029199;
// one constant per name (not arrays): constexpr scalars are usable in CUDA device code
constexpr double C2_0 = 1.0925484305920792, C2_1 = -1.0925484305920792,
                 C2_2 = 0.31539156525252005, C2_3 = -1.0925484305920792,
                 C2_4 = 0.5462742152960396;
constexpr double C3_0 = -0.5900435899266435, C3_1 = 2.890611442640554,
                 C3_2 = -0.4570457994644658, C3_3 = 0.3731763325901154,
                 C3_4 = -0.4570457994644658, C3_5 = 1.445305721320277,
                 C3_6 = -0.5900435899266435;
}  // namespace sh

// Basis values B_0..B_{(degree+1)^2-1} at the unit direction (x, y, z).
template <typename T>
SPLAT3D_HD void sh_basis(int degree, T x, T y, T z, T* basis) {
  basis[0] = T(sh::C0);
  if (degree < 1) return;
  basis[1] = -T(sh::C1) * y;
  basis[2] = T(sh::C1) * z;
  basis[3] = -T(sh::C1) * x;
  if (degree < 2) return;
  const T xx = x * x, yy = y * y, zz = z * z;
  basis[4] = T(sh::C2_0) * x * y;
  basis[5] = T(sh::C2_1) * y * z;
  basis[6] = T(sh::C2_2) * (T(2) * zz - xx - yy);
  basis[7] = T(sh::C2_3) * x * z;
  basis[8] = T(sh::C2_4) * (xx - yy);
  if (degree < 3) return;
  basis[9] = T(sh::C3_0) * y * (T(3) * xx - yy);
  basis[10] = T(sh::C3_1) * x * y * z;
  basis[11] = T(sh::C3_2) * y * (T(4) * zz - xx - yy);
  basis[12] = T(sh::C3_3) * z * (T(2) * zz - T(3) * xx - T(3) * yy);
  basis[13] = T(sh::C3_4) * x * (T(4) * zz - xx - yy);
  basis[14] = T(sh::C3_5) * z * (xx - yy);
  basis[15] = T(sh::C3_6) * x * (xx - T(3) * yy);
}

// Adds Σ_k h_k ∇B_k(x, y, z) to grad (the gradient with respect to the unit direction),
// where h_k = sh_k · dL/dcolour.
template <typename T>
SPLAT3D_HD void sh_basis_vjp(int degree, T x, T y, T z, const T* h, T* grad) {
  if (degree < 1) return;
  T gx = -T(sh::C1) * h[3], gy = -T(sh::C1) * h[1], gz = T(sh::C1) * h[2];
  if (degree >= 2) {
    const T c0 = T(sh::C2_0), c1 = T(sh::C2_1), c2 = T(sh::C2_2), c3 = T(sh::C2_3),
            c4 = T(sh::C2_4);
    gx += c0 * y * h[4] - T(2) * c2 * x * h[6] + c3 * z * h[7] + T(2) * c4 * x * h[8];
    gy += c0 * x * h[4] + c1 * z * h[5] - T(2) * c2 * y * h[6] - T(2) * c4 * y * h[8];
    gz += c1 * y * h[5] + T(4) * c2 * z * h[6] + c3 * x * h[7];
  }
  if (degree >= 3) {
    const T xx = x * x, yy = y * y, zz = z * z;
    const T c0 = T(sh::C3_0), c1 = T(sh::C3_1), c2 = T(sh::C3_2), c3 = T(sh::C3_3),
            c4 = T(sh::C3_4), c5 = T(sh::C3_5), c6 = T(sh::C3_6);
    gx += c0 * T(6) * x * y * h[9] + c1 * y * z * h[10] - c2 * T(2) * x * y * h[11] -
          c3 * T(6) * x * z * h[12] + c4 * (T(4) * zz - T(3) * xx - yy) * h[13] +
          c5 * T(2) * x * z * h[14] + c6 * T(3) * (xx - yy) * h[15];
    gy += c0 * T(3) * (xx - yy) * h[9] + c1 * x * z * h[10] +
          c2 * (T(4) * zz - xx - T(3) * yy) * h[11] - c3 * T(6) * y * z * h[12] -
          c4 * T(2) * x * y * h[13] - c5 * T(2) * y * z * h[14] - c6 * T(6) * x * y * h[15];
    gz += c1 * x * y * h[10] + c2 * T(8) * y * z * h[11] +
          c3 * (T(6) * zz - T(3) * xx - T(3) * yy) * h[12] + c4 * T(8) * x * z * h[13] +
          c5 * (xx - yy) * h[14];
  }
  grad[0] += gx;
  grad[1] += gy;
  grad[2] += gz;
}

// Colour of a Gaussian with SH coefficients ``coeffs`` ([K, 3], the first (degree+1)^2 used)
// seen from ``campos``: max(0, 0.5 + Σ_k B_k(normalize(mean - campos)) sh_k). ``raw``
// (optional) receives the value before the clamp. Returns where that value is finite in all
// three channels: the projection culls a Gaussian whose colour is not (a NaN or infinite
// coefficient), as splat3d/raster/projection.py does, rather than let the clamp turn a NaN
// into black.
template <typename T>
SPLAT3D_HD MaskOf<T> sh_color(int degree, const T* coeffs, const T* mean, const T* campos,
                              T* rgb, T* raw = nullptr) {
  T basis[16];
  T d[3] = {mean[0] - campos[0], mean[1] - campos[1], mean[2] - campos[2]};
  const T len = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  const T inv = T(1) / select(len > T(1e-12), len, T(1e-12));
  sh_basis(degree, d[0] * inv, d[1] * inv, d[2] * inv, basis);
  const int k_used = (degree + 1) * (degree + 1);
  MaskOf<T> finite = T(0) < T(1);  // true
  for (int ch = 0; ch < 3; ++ch) {
    T v = T(0);
    for (int k = 0; k < k_used; ++k) v += basis[k] * coeffs[3 * k + ch];
    v += T(0.5);
    if (raw) raw[ch] = v;
    rgb[ch] = select(v > T(0), v, T(0));
    finite = finite & isfinite(v);
  }
  return finite;
}

// Adds the gradients of sh_color's output (g_rgb) to g_coeffs ([K, 3]) and g_mean. The basis
// is evaluated once and serves both the clamp test and the coefficient gradient.
template <typename T>
SPLAT3D_HD void sh_color_backward(int degree, const T* coeffs, const T* mean, const T* campos,
                                  const T* g_rgb, T* g_coeffs, T* g_mean) {
  T basis[16], h[16];
  const T d[3] = {mean[0] - campos[0], mean[1] - campos[1], mean[2] - campos[2]};
  const T len = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  const MaskOf<T> unit = len > T(1e-12);
  const T inv = T(1) / select(unit, len, T(1e-12));
  const T u[3] = {d[0] * inv, d[1] * inv, d[2] * inv};
  sh_basis(degree, u[0], u[1], u[2], basis);
  const int k_used = (degree + 1) * (degree + 1);
  T g[3];
  for (int ch = 0; ch < 3; ++ch) {  // the value before the clamp, summed as in sh_color
    T raw = T(0);
    for (int k = 0; k < k_used; ++k) raw += basis[k] * coeffs[3 * k + ch];
    raw += T(0.5);
    g[ch] = select(raw >= T(0), g_rgb[ch], T(0));  // clamp_min
  }
  for (int k = 0; k < k_used; ++k) {
    h[k] = T(0);
    for (int ch = 0; ch < 3; ++ch) {
      g_coeffs[3 * k + ch] += basis[k] * g[ch];
      h[k] += coeffs[3 * k + ch] * g[ch];
    }
  }
  if (degree < 1) return;  // the DC term does not depend on the direction
  T g_u[3] = {T(0), T(0), T(0)};
  sh_basis_vjp(degree, u[0], u[1], u[2], h, g_u);
  // u = d / max(|d|, 1e-12)
  const T dot = select(unit, g_u[0] * u[0] + g_u[1] * u[1] + g_u[2] * u[2], T(0));
  for (int i = 0; i < 3; ++i) g_mean[i] += (g_u[i] - u[i] * dot) * inv;
}

}  // namespace splat3d
