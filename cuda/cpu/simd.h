// SIMD packs of pixels for the CPU compositor, on GCC/Clang vector extensions so the hot
// loops are vectorised whatever the auto-vectoriser decides.
//
// A pack is kPack pixels of one tile row: 16 (a whole row, one AVX-512 register) when the
// build targets AVX-512, else 8 (half a row: one AVX2 register, or two SSE ones). The width
// is fixed at build time from the compiler's target flags (native_backend.compile_flags
// picks them from the CPU capability); the kernels are written for either width, and a few
// helpers below use AVX-512 or AVX instructions where the build has them, with plain
// vector-extension fallbacks that compute the same values.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

namespace splat3d {

#if defined(__AVX512F__)
constexpr int kPack = 16;  // pixels per pack
#else
constexpr int kPack = 8;
#endif

typedef int32_t IntV __attribute__((vector_size(4 * kPack)));  // kPack int32 lanes

template <typename V>
inline V iota_of() {
  V v{};
  for (int i = 0; i < int(sizeof(V) / sizeof(v[0])); ++i) v[i] = i;
  return v;
}

template <typename T>
struct Pack;

template <>
struct Pack<float> {
  typedef float V __attribute__((vector_size(4 * kPack)));
  typedef int32_t M __attribute__((vector_size(4 * kPack)));  // lane masks: -1 true, 0 false
  static V iota() { return iota_of<V>(); }

  // exp_vec (raster_math.h) on kPack lanes: the same clamping, range reduction and
  // polynomial. With AVX-512 the rounding and the 2^n scaling are one instruction each
  // (vrndscaleps, vscalefps); both are exact, so the values are the same.
  static V exp(V x) {
    x = x < V{} - 87.0f ? V{} - 87.0f : x;
    x = x > V{} + 88.0f ? V{} + 88.0f : x;
    const V y = x * 1.44269504088896341f + 0.5f;
#if defined(__AVX512F__)
    const V nf = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
#else
    M n = __builtin_convertvector(y, M);     // truncation towards zero
    n += y < __builtin_convertvector(n, V);  // true lanes are -1: truncation -> floor
    const V nf = __builtin_convertvector(n, V);
#endif
    const V r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;
    V p = V{} + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
#if defined(__AVX512F__)
    return _mm512_scalef_ps(p, nf);
#else
    const M bits = (n + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
#endif
  }

  // num / den for den in [1e-3, 1]: with AVX-512 a 14-bit reciprocal estimate refined by
  // one Newton step (relative error about 2^-27, below float rounding), else a division.
  static V div(V num, V den) {
#if defined(__AVX512F__)
    V inv = _mm512_rcp14_ps(den);
    inv = inv * (2.0f - den * inv);
    return num * inv;
#else
    return num / den;
#endif
  }
};

template <>
struct Pack<double> {
  typedef double V __attribute__((vector_size(8 * kPack)));
  typedef int64_t M __attribute__((vector_size(8 * kPack)));
  static V iota() { return iota_of<V>(); }

  // float64 renders are for checking; the library exp keeps them exact.
  static V exp(V x) {
    for (int i = 0; i < kPack; ++i) x[i] = std::exp(x[i]);
    return x;
  }
  static V div(V num, V den) { return num / den; }
};

// Number of true lanes of a mask.
inline int count_true(Pack<float>::M m) {
#if defined(__AVX512F__)
  return __builtin_popcount(_mm512_cmplt_epi32_mask(reinterpret_cast<__m512i&>(m),
                                                    _mm512_setzero_si512()));
#elif defined(__AVX__)
  return __builtin_popcount(_mm256_movemask_ps(reinterpret_cast<__m256&>(m)));
#else
  int n = 0;
  for (int i = 0; i < kPack; ++i) n -= m[i];
  return n;
#endif
}

inline int count_true(Pack<double>::M m) {
  int n = 0;
  for (int i = 0; i < kPack; ++i) n -= static_cast<int>(m[i]);
  return n;
}

template <typename V, typename S>
inline V load(const S* src) {
  V v;
  std::memcpy(&v, src, sizeof v);
  return v;
}

template <typename V, typename S>
inline void store(S* dst, const V& v) {
  std::memcpy(dst, &v, sizeof v);
}

// Lane mask of type M from kPack int32 lanes (-1 / 0).
template <typename M>
inline M widen(IntV mask) {
  return __builtin_convertvector(mask, M);
}

// Sixteen values, one per tile row, for the per-row footprint test (any kPack).
template <typename T>
struct Rows;
template <>
struct Rows<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t M __attribute__((vector_size(64)));
};
template <>
struct Rows<double> {
  typedef double V __attribute__((vector_size(128)));
  typedef int64_t M __attribute__((vector_size(128)));
};

// Lane-wise square root of 16 values (inputs >= 0).
inline Rows<float>::V sqrt_rows(Rows<float>::V x) {
#if defined(__AVX512F__)
  return _mm512_sqrt_ps(x);
#elif defined(__AVX__)
  typedef float H __attribute__((vector_size(32)));
  H lo, hi;
  std::memcpy(&lo, &x, 32);
  std::memcpy(&hi, reinterpret_cast<const char*>(&x) + 32, 32);
  lo = _mm256_sqrt_ps(lo);
  hi = _mm256_sqrt_ps(hi);
  std::memcpy(&x, &lo, 32);
  std::memcpy(reinterpret_cast<char*>(&x) + 32, &hi, 32);
  return x;
#else
  for (int i = 0; i < 16; ++i) x[i] = std::sqrt(x[i]);
  return x;
#endif
}

inline Rows<double>::V sqrt_rows(Rows<double>::V x) {
  for (int i = 0; i < 16; ++i) x[i] = std::sqrt(x[i]);
  return x;
}

// Bit i set where lane i of a 16-lane mask is true.
inline uint32_t row_bits(Rows<float>::M m) {
#if defined(__AVX512F__)
  return _mm512_cmplt_epi32_mask(reinterpret_cast<__m512i&>(m), _mm512_setzero_si512());
#elif defined(__AVX__)
  typedef float H __attribute__((vector_size(32)));
  H lo, hi;
  std::memcpy(&lo, &m, 32);
  std::memcpy(&hi, reinterpret_cast<const char*>(&m) + 32, 32);
  return uint32_t(_mm256_movemask_ps(lo)) | (uint32_t(_mm256_movemask_ps(hi)) << 8);
#else
  uint32_t bits = 0;
  for (int i = 0; i < 16; ++i) bits |= uint32_t(m[i] & 1) << i;
  return bits;
#endif
}

inline uint32_t row_bits(Rows<double>::M m) {
  uint32_t bits = 0;
  for (int i = 0; i < 16; ++i) bits |= uint32_t(m[i] & 1) << i;
  return bits;
}

// Bit i of x moved to bit 2i (x < 2^16).
inline uint32_t spread_bits(uint32_t x) {
  x = (x | (x << 8)) & 0x00FF00FFu;
  x = (x | (x << 4)) & 0x0F0F0F0Fu;
  x = (x | (x << 2)) & 0x33333333u;
  x = (x | (x << 1)) & 0x55555555u;
  return x;
}

// out[i] = sum of the lanes of v[i], i < n (out has room for n rounded up to 8).
inline void reduce_lanes(const Pack<float>::V* v, int n, float* out) {
#if defined(__AVX__)
  typedef float V8 __attribute__((vector_size(32)));
  const V8 zero{};
  for (int i = 0; i < n; i += 8) {
    V8 r[8];
    for (int j = 0; j < 8; ++j) {
      if (i + j >= n) {
        r[j] = zero;
        continue;
      }
#if defined(__AVX512F__)
      // fold the 16 lanes to 8: low half plus high half
      r[j] = _mm512_castps512_ps256(v[i + j]) +
             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[i + j]), 1));
#else
      r[j] = v[i + j];
#endif
    }
    // three rounds of pairwise horizontal adds turn 8 vectors into their 8 lane sums
    const V8 h01 = _mm256_hadd_ps(r[0], r[1]), h23 = _mm256_hadd_ps(r[2], r[3]);
    const V8 h45 = _mm256_hadd_ps(r[4], r[5]), h67 = _mm256_hadd_ps(r[6], r[7]);
    const V8 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    // q0 = [s0 s1 s2 s3 | s0' s1' s2' s3'] (low and high 128-bit halves), likewise q1
    const V8 lo = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 8, 9, 10, 11);
    const V8 hi = __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 12, 13, 14, 15);
    store(out + i, lo + hi);
  }
#else
  for (int i = 0; i < n; ++i) {
    float s = 0;
    for (int q = 0; q < kPack; ++q) s += v[i][q];
    out[i] = s;
  }
#endif
}

inline void reduce_lanes(const Pack<double>::V* v, int n, double* out) {
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int q = 0; q < kPack; ++q) s += v[i][q];
    out[i] = s;
  }
}

}  // namespace splat3d
