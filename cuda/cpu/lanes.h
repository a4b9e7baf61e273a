// F8: eight float32 lanes, one Gaussian per lane, as a value type the lane-generic projection
// and SH math (projection_math.h, sh_math.h) can be instantiated with. A plain struct over a
// GCC/Clang vector (one AVX2 register) rather than the raw vector type, so that T(1) broadcasts,
// comparisons give an M8 lane mask, and sqrt/exp/log/isfinite/select are found by
// argument-dependent lookup only (hidden friends), never hiding the scalar overloads.
//
// exp is the polynomial of raster_math.h's exp_vec on eight lanes (within a few float ulps of
// the library expf) with the library taking over for any pack with an input outside its
// range; log and the division keep libm / IEEE results.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace splat3d {

constexpr int kLanes = 8;

struct M8 {
  typedef int32_t V __attribute__((vector_size(32)));  // -1 true, 0 false
  V m;
  friend M8 operator&(M8 a, M8 b) { return {a.m & b.m}; }
  friend M8 operator|(M8 a, M8 b) { return {a.m | b.m}; }
  bool any() const {
    for (int i = 0; i < kLanes; ++i)
      if (m[i]) return true;
    return false;
  }
  bool lane(int i) const { return m[i] != 0; }
};

struct F8 {
  typedef float V __attribute__((vector_size(32)));
  V v;

  F8() = default;
  constexpr F8(float x) : v(V{} + x) {}  // NOLINT: implicit broadcast, as scalar T(x) in generic code
  static F8 of(V x) {
    F8 r;
    r.v = x;
    return r;
  }

  friend F8 operator+(F8 a, F8 b) { return of(a.v + b.v); }
  friend F8 operator-(F8 a, F8 b) { return of(a.v - b.v); }
  friend F8 operator*(F8 a, F8 b) { return of(a.v * b.v); }
  friend F8 operator/(F8 a, F8 b) { return of(a.v / b.v); }
  friend F8 operator-(F8 a) { return of(-a.v); }
  F8& operator+=(F8 b) { v += b.v; return *this; }
  F8& operator-=(F8 b) { v -= b.v; return *this; }
  F8& operator*=(F8 b) { v *= b.v; return *this; }
  friend M8 operator<(F8 a, F8 b) { return {a.v < b.v}; }
  friend M8 operator>(F8 a, F8 b) { return {a.v > b.v}; }
  friend M8 operator<=(F8 a, F8 b) { return {a.v <= b.v}; }
  friend M8 operator>=(F8 a, F8 b) { return {a.v >= b.v}; }

  friend F8 select(M8 m, F8 a, F8 b) { return of(m.m ? a.v : b.v); }
  friend M8 isfinite(F8 a) { return {(a.v - a.v) == V{}}; }  // inf - inf and NaN give NaN

  friend F8 sqrt(F8 a) {
#if defined(__AVX__)
    return of(reinterpret_cast<V>(_mm256_sqrt_ps(reinterpret_cast<__m256>(a.v))));
#else
    for (int i = 0; i < kLanes; ++i) a.v[i] = sqrtf(a.v[i]);
    return a;
#endif
  }

  friend F8 log(F8 a) {
    for (int i = 0; i < kLanes; ++i) a.v[i] = logf(a.v[i]);
    return a;
  }

  friend F8 exp(F8 a) {
    const V x = a.v;
    const M8 in_range = (a >= F8(-87.0f)) & (a <= F8(88.0f));
    if (!(in_range.m[0] & in_range.m[1] & in_range.m[2] & in_range.m[3] & in_range.m[4] &
          in_range.m[5] & in_range.m[6] & in_range.m[7])) {
      for (int i = 0; i < kLanes; ++i) a.v[i] = expf(a.v[i]);  // overflow, underflow, NaN
      return a;
    }
    typedef int32_t I __attribute__((vector_size(32)));
    const V y = x * 1.44269504088896341f + 0.5f;
    I n = __builtin_convertvector(y, I);            // truncation towards zero
    n += y < __builtin_convertvector(n, V);         // true lanes are -1: floor
    const V nf = __builtin_convertvector(n, V);
    const V r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;
    V p = V{} + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const I bits = (n + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return of(p * scale);
  }

  float operator[](int i) const { return v[i]; }
};

// Lanes i of the result: base[stride * (first + min(i, count - 1))], i.e. ``count`` (1..8)
// consecutive records of ``stride`` floats, the last repeated to fill the pack.
inline F8 load_strided(const float* base, int64_t first, int count, int64_t stride) {
  F8 r;
  const float* p = base + first * stride;
  for (int i = 0; i < kLanes; ++i) r.v[i] = p[(i < count ? i : count - 1) * stride];
  return r;
}

// The first ``count`` lanes of v to dst[stride * i].
inline void store_strided(F8 v, float* dst, int count, int64_t stride) {
  for (int i = 0; i < count; ++i) dst[i * stride] = v.v[i];
}

}  // namespace splat3d
