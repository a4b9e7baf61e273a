// Device-agnostic math of the splat3d rasterizer, shared by the CPU and CUDA kernels.
//
// Everything here is plain arithmetic on scalars (float or double), callable from host and
// device code. The semantics are those of the PyTorch reference backend
// (splat3d/raster/projection.py and composite.py), which follows gsplat v1.5:
//   alpha = min(0.999, o exp(-sigma)),  sigma = 0.5 (a dx^2 + c dy^2) + b dx dy,
// contributions with alpha < 1/255 are skipped, and a pixel stops before the Gaussian that
// would bring its transmittance to <= 1e-4.
#pragma once

#include <math.h>  // the global isfinite, sqrt, exp, log overloads (host and device)

#include <climits>
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SPLAT3D_HD __host__ __device__ __forceinline__
#else
#define SPLAT3D_HD inline
#endif

namespace splat3d {

constexpr int kTile = 16;                 // tile side in pixels (binning.TILE)
constexpr int kTilePixels = kTile * kTile;

// Lane-generic helpers: the projection and SH math (projection_math.h, sh_math.h) is written
// once for a scalar T (float, double; CPU and CUDA) and for a CPU pack of eight floats
// (cpu/lanes.h), so branches are selects and conditions are masks: MaskOf<T> is bool for
// scalars and a lane mask for packs, combined with & and |.
template <typename T>
using MaskOf = decltype(T() < T());

template <typename T>
SPLAT3D_HD T select(bool cond, T a, T b) {
  return cond ? a : b;
}

template <typename T>
struct Consts {
  static constexpr T alpha_min = T(1.0 / 255.0);  // projection.ALPHA_MIN
  static constexpr T alpha_max = T(0.999);        // composite.ALPHA_MAX
  static constexpr T t_stop = T(1e-4);            // composite.T_STOP
};

// e^r for |r| <= ln2/2 from n (the rounded x log2 e, as a float) and x: the remainder
// r = x - n ln2 (Cody-Waite split of ln2) and the degree-7 Taylor polynomial of e^r, whose
// truncation error (< 2e-9 relative) is below float rounding. V is float or a vector of
// floats (GCC vector extension), so every exp of the kernels shares these steps.
template <typename V>
SPLAT3D_HD V exp_reduced(V x, V n) {
  const V r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  V p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

// exp(x) for float without a library call, so loops over a tile's pixels vectorise:
// x = n ln2 + r, e^r by exp_reduced, and 2^n assembled in the exponent bits. Inputs are
// clamped to [-87, 88], which keeps 2^n a normal float; e^-87 is far below any alpha
// threshold used here.
SPLAT3D_HD float exp_vec(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = floorf(x * 1.44269504088896341f + 0.5f);
  const float p = exp_reduced(x, n);
  union {
    int32_t i;
    float f;
  } scale;
  scale.i = (static_cast<int32_t>(n) + 127) << 23;
  return p * scale.f;
}

// Double precision (used for float64 parity tests) keeps the library exp.
SPLAT3D_HD double exp_vec(double x) { return exp(x); }

// Exponent -sigma of the Gaussian falloff at offset (dx, dy) from the mean, with conic
// (a, b, c). V is T or a SIMD pack of T (cpu/simd.h).
template <typename V, typename T>
SPLAT3D_HD V falloff_exponent(V dx, V dy, T a, T b, T c) {
  return -(T(0.5) * (a * dx * dx + c * dy * dy) + b * dx * dy);
}

// Opacity-weighted falloff at offset (dx, dy) from the mean, capped at alpha_max.
template <typename T>
SPLAT3D_HD T falloff_alpha(T dx, T dy, T a, T b, T c, T opacity) {
  const T alpha = opacity * exp_vec(falloff_exponent(dx, dy, a, b, c));
  return alpha < Consts<T>::alpha_max ? alpha : Consts<T>::alpha_max;
}

// Per-pixel gradient moments of ``power = log o - sigma`` given g = dL/dpower, summed over
// the pixels a Gaussian covers; falloff_grad_finish turns the sums into gradients.
template <typename T>
struct FalloffMoments {
  T mx = 0, my = 0, xx = 0, xy = 0, yy = 0, g = 0;
};

template <typename V, typename T>
SPLAT3D_HD void falloff_grad(V dx, V dy, T a, T b, T c, V g, V& mx, V& my, V& xx, V& xy,
                             V& yy, V& gs) {
  // dx = pixel - mean, so d sigma / d mean = -(Q d)
  mx += g * (a * dx + b * dy);
  my += g * (b * dx + c * dy);
  xx += g * dx * dx;
  xy += g * dx * dy;
  yy += g * dy * dy;
  gs += g;
}

// out = (d mean x, d mean y, d conic a, d conic b, d conic c, d opacity), added.
template <typename T>
SPLAT3D_HD void falloff_grad_finish(const FalloffMoments<T>& m, T opacity, T* out) {
  out[0] += m.mx;
  out[1] += m.my;
  out[2] += T(-0.5) * m.xx;
  out[3] += -m.xy;
  out[4] += T(-0.5) * m.yy;
  out[5] += m.g / opacity;  // d power / d o = 1 / o
}

// Does the ellipse {d : dᵀ Q d <= level}, Q = [[a, b], [b, c]] positive definite, centred at
// (mx, my), reach the axis-aligned rectangle [x0, x1] x [y0, y1]? The quadratic's minimum
// over the rectangle is at the centre when it lies inside, else on an edge, where the
// one-dimensional minimiser is clamped to the edge (exact ellipse-rectangle intersection).
template <typename T>
SPLAT3D_HD bool ellipse_touches_rect(T mx, T my, T a, T b, T c, T level, T x0, T x1, T y0,
                                     T y1) {
  if (mx >= x0 && mx <= x1 && my >= y0 && my <= y1) return true;
  T best = INFINITY;
  const T xs[2] = {x0 - mx, x1 - mx};
  const T ys[2] = {y0 - my, y1 - my};
  for (int i = 0; i < 2; ++i) {
    // vertical edge: dx fixed, minimise over dy
    const T dx = xs[i];
    T dy = -b * dx / c;
    dy = dy < ys[0] ? ys[0] : (dy > ys[1] ? ys[1] : dy);
    T q = a * dx * dx + T(2) * b * dx * dy + c * dy * dy;
    best = q < best ? q : best;
    // horizontal edge: dy fixed, minimise over dx
    const T ey = ys[i];
    T ex = -b * ey / a;
    ex = ex < xs[0] ? xs[0] : (ex > xs[1] ? xs[1] : ex);
    q = a * ex * ex + T(2) * b * ex * ey + c * ey * ey;
    best = q < best ? q : best;
  }
  return best <= level;
}

}  // namespace splat3d
