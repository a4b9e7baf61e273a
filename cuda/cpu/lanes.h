// F8: eight float32 lanes, one Gaussian per lane, as a value type the lane-generic projection
// and SH math (projection_math.h, sh_math.h) can be instantiated with. A plain struct over a
// GCC/Clang vector (one AVX2 register) rather than the raw vector type, so that T(1) broadcasts,
// comparisons give an M8 lane mask, and sqrt/exp/log/isfinite/select are found by
// argument-dependent lookup only (hidden friends), never hiding the scalar overloads.
//
// exp is raster_math.h's exp_vec on eight lanes (within a few float ulps of the library expf)
// with the library taking over for any pack with an input outside its range; log and the division keep libm / IEEE results.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "splat3d/raster_math.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace splat3d {

constexpr int kLanes = 8;

struct M8 {
  typedef int32_t V __attribute__((vector_size(32)));  // -1 true, 0 false
  V m;
  friend M8 operator&(M8 a, M8 b) { return {a.m & b.m}; }
  bool all() const {
    int32_t every = -1;
    for (int i = 0; i < kLanes; ++i) every &= m[i];
    return every != 0;
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
    if (!in_range.all()) {
      for (int i = 0; i < kLanes; ++i) a.v[i] = expf(a.v[i]);  // overflow, underflow, NaN
      return a;
    }
    typedef int32_t I __attribute__((vector_size(32)));
    const V y = x * 1.44269504088896341f + 0.5f;
    I n = __builtin_convertvector(y, I);            // truncation towards zero
    n += y < __builtin_convertvector(n, V);         // true lanes are -1: floor
    const V p = exp_reduced(x, __builtin_convertvector(n, V));
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

#if defined(__AVX__)
// In-register transpose of an 8x8 block: r[i][j] becomes r[j][i].
__attribute__((always_inline)) inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // rows 2i, 2i+1 interleaved
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
#endif

// Columns [0, n_cols) of ``count`` records of ``stride`` floats starting at ``base`` as packs
// (out[j] lane i = base[i * stride + j]; the last record repeated in spare lanes).
// ``readable`` is how many floats from ``base`` on may be read: full packs with room to read
// whole 8-float rows are transposed in registers, the rest is gathered lane by lane.
__attribute__((always_inline)) inline void load_records(const float* base, int count, int64_t stride, int n_cols,
                         int64_t readable, F8* out) {
#if defined(__AVX__)
  if (stride == 1 && count == kLanes) {
    out[0].v = reinterpret_cast<F8::V>(_mm256_loadu_ps(base));
    return;
  }
  const int blocks = (n_cols + kLanes - 1) / kLanes;
  if (count == kLanes && (kLanes - 1) * stride + blocks * kLanes <= readable) {
    for (int b = 0; b < blocks; ++b) {
      __m256 r[8];
      for (int i = 0; i < kLanes; ++i) r[i] = _mm256_loadu_ps(base + i * stride + b * kLanes);
      transpose8(r);
      for (int j = 0; j < kLanes && b * kLanes + j < n_cols; ++j) {
        out[b * kLanes + j].v = reinterpret_cast<F8::V>(r[j]);
      }
    }
    return;
  }
#endif
  for (int j = 0; j < n_cols; ++j) out[j] = load_strided(base + j, 0, count, stride);
}

// The first ``count`` lanes of packs cols[0, n_cols) to base[i * stride + j]; nothing else
// in memory is written (rows are stored with a mask when n_cols < stride).
__attribute__((always_inline)) inline void store_records(const F8* cols, int n_cols, float* base, int64_t stride, int count) {
#if defined(__AVX__)
  if (stride == 1 && count == kLanes) {
    _mm256_storeu_ps(base, reinterpret_cast<__m256>(cols[0].v));
    return;
  }
  if (count == kLanes) {
    for (int b = 0; b * kLanes < n_cols; ++b) {
      const int width = n_cols - b * kLanes < kLanes ? n_cols - b * kLanes : kLanes;
      __m256 r[8];
      for (int j = 0; j < kLanes; ++j) {
        r[j] = j < width ? reinterpret_cast<__m256>(cols[b * kLanes + j].v) : _mm256_setzero_ps();
      }
      transpose8(r);
      float* dst = base + b * kLanes;
      if (width == kLanes) {
        for (int i = 0; i < kLanes; ++i) _mm256_storeu_ps(dst + i * stride, r[i]);
      } else {
        const __m256i mask = _mm256_setr_epi32(0 < width ? -1 : 0, 1 < width ? -1 : 0,
                                               2 < width ? -1 : 0, 3 < width ? -1 : 0,
                                               4 < width ? -1 : 0, 5 < width ? -1 : 0,
                                               6 < width ? -1 : 0, 7 < width ? -1 : 0);
        for (int i = 0; i < kLanes; ++i) _mm256_maskstore_ps(dst + i * stride, mask, r[i]);
      }
    }
    return;
  }
#endif
  for (int j = 0; j < n_cols; ++j) store_strided(cols[j], base + j, count, stride);
}

}  // namespace splat3d
