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
#include <type_traits>
#include <utility>

#include "splat3d/raster_math.h"

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

typedef float Float16 __attribute__((vector_size(64)));
typedef int32_t Int16 __attribute__((vector_size(64)));
typedef float Float8 __attribute__((vector_size(32)));
typedef int32_t Int8 __attribute__((vector_size(32)));

// Bit i set where lane i of a vector-extension mask (-1 / 0) is true.
template <typename M>
inline uint32_t lane_bits(M m) {
  uint32_t b = 0;
  for (int i = 0; i < int(sizeof(M) / sizeof(m[0])); ++i) b |= uint32_t(m[i] & 1) << i;
  return b;
}
#if defined(__AVX__)
inline uint32_t lane_bits(Int8 m) {
  return uint32_t(_mm256_movemask_ps((__m256)m));
}
inline uint32_t lane_bits(Int16 m) {
  Int8 lo, hi;
  std::memcpy(&lo, &m, 32);
  std::memcpy(&hi, reinterpret_cast<const char*>(&m) + 32, 32);
  return lane_bits(lo) | (lane_bits(hi) << 8);
}
#endif

// Mask operations on vector-extension lane masks (-1 true, 0 false), for the packs that
// have no mask registers. Comparisons are false for NaN, like the scalar ones.
template <typename V_, typename M_, int kLanes>
struct VectorMasks {
  typedef V_ V;
  typedef M_ M;
  static M lt(V a, V b) { return a < b; }
  static M le(V a, V b) { return a <= b; }
  static M ge(V a, V b) { return a >= b; }
  static M gt(V a, V b) { return a > b; }
  static M both(M a, M b) { return a & b; }
  static M but_not(M a, M b) { return a & ~b; }  // a and not b
  static V select(M m, V a, V b) { return m ? a : b; }
  static V where(M m, V a) { return m ? a : V{}; }
  // a < b ? a : b and a > b ? a : b lane-wise: b where either is NaN
  static V min(V a, V b) { return a < b ? a : b; }
  static V max(V a, V b) { return a > b ? a : b; }
  static int count(M m) {
    int n = 0;
    for (int i = 0; i < kLanes; ++i) n -= static_cast<int>(m[i]);
    return n;
  }
  // bit i set where lane i is true, and back
  static uint32_t bits(M m) { return lane_bits(m); }
  static M from_bits(uint32_t b) {
    using E = std::decay_t<decltype(std::declval<M>()[0])>;
    return ((M{} + static_cast<E>(b)) >> iota_of<M>() & 1) != 0;
  }
  // lanes where k < last[lane] (kLanes == kPack)
  static M before(int32_t k, const int32_t* last) {
    IntV l;
    std::memcpy(&l, last, sizeof l);
    return __builtin_convertvector(IntV{} + k < l, M);
  }
  // dst[lane] = v[lane] where m
  template <typename S>
  static void store_where(S* dst, M m, V v) {
    V d;
    std::memcpy(&d, dst, sizeof d);
    d = m ? v : d;
    std::memcpy(dst, &d, sizeof d);
  }
  // dst[lane] = value where m (kLanes == kPack)
  static void store_where(int32_t* dst, M m, int32_t value) {
    IntV d;
    std::memcpy(&d, dst, sizeof d);
    d = __builtin_convertvector(m, IntV) ? IntV{} + value : d;
    std::memcpy(dst, &d, sizeof d);
  }
};

#if defined(__AVX512F__)
// Sixteen float lanes with AVX-512: masks live in mask registers, and min, max, select and
// masked stores are single instructions with the semantics of VectorMasks.
struct Float16Masks {
  typedef Float16 V;
  typedef __mmask16 M;
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M ge(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M both(M a, M b) { return _kand_mask16(a, b); }
  static M but_not(M a, M b) { return _kandn_mask16(b, a); }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static V where(M m, V a) { return _mm512_maskz_mov_ps(m, a); }
  // vminps x, y = x < y ? x : y and vmaxps x, y = x > y ? x : y (y where either is NaN)
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static int count(M m) { return __builtin_popcount(static_cast<unsigned>(m)); }
  static uint32_t bits(M m) { return static_cast<uint32_t>(m); }
  static M from_bits(uint32_t b) { return static_cast<M>(b); }
  static void store_where(float* dst, M m, V v) { _mm512_mask_storeu_ps(dst, m, v); }
  static M before(int32_t k, const int32_t* last) {
    return _mm512_cmplt_epi32_mask(_mm512_set1_epi32(k), _mm512_loadu_si512(last));
  }
  static void store_where(int32_t* dst, M m, int32_t value) {
    _mm512_mask_storeu_epi32(dst, m, _mm512_set1_epi32(value));
  }
};
#else
typedef VectorMasks<Float16, Int16, 16> Float16Masks;
#endif

template <typename T>
struct Pack;

#if defined(__AVX512F__)
typedef Float16Masks FloatPackMasks;
#else
typedef VectorMasks<Float8, Int8, 8> FloatPackMasks;
#endif

// kPack float lanes: the pixels of one pack.
template <>
struct Pack<float> : FloatPackMasks {
  typedef FloatPackMasks::V V;
  typedef FloatPackMasks::M M;
  static V iota() { return iota_of<V>(); }

  // exp_vec (raster_math.h) on kPack lanes: the same clamping, rounding and exp_reduced.
  // With AVX-512 the rounding and the 2^n scaling are one instruction each (vrndscaleps,
  // vscalefps); both are exact, so the values are the same.
  static V exp(V x) {
    x = max(V{} - 87.0f, x);  // x < -87 ? -87 : x
    x = min(V{} + 88.0f, x);  // x > 88 ? 88 : x
    const V y = x * 1.44269504088896341f + 0.5f;
#if defined(__AVX512F__)
    const V nf = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
#else
    Int8 n = __builtin_convertvector(y, Int8);  // truncation towards zero
    n += y < __builtin_convertvector(n, V);     // true lanes are -1: truncation -> floor
    const V nf = __builtin_convertvector(n, V);
#endif
    const V p = exp_reduced(x, nf);
#if defined(__AVX512F__)
    return _mm512_scalef_ps(p, nf);
#else
    const Int8 bits = (n + 127) << 23;
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

typedef double DoubleP __attribute__((vector_size(8 * kPack)));
typedef int64_t DoublePM __attribute__((vector_size(8 * kPack)));

template <>
struct Pack<double> : VectorMasks<DoubleP, DoublePM, kPack> {
  static V iota() { return iota_of<V>(); }

  // float64 renders are for checking; the library exp keeps them exact.
  static V exp(V x) {
    for (int i = 0; i < kPack; ++i) x[i] = std::exp(x[i]);
    return x;
  }
  static V div(V num, V den) { return num / den; }
};

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

// Sixteen values, one per tile row, for the per-row footprint test (any kPack), with the
// mask operations above and sqrt.
template <typename T>
struct Rows;

template <>
struct Rows<float> : Float16Masks {
  static V sqrt(V x) {
#if defined(__AVX512F__)
    return _mm512_sqrt_ps(x);
#elif defined(__AVX__)
    Float8 lo, hi;
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
};

typedef double Double16 __attribute__((vector_size(128)));
typedef int64_t Long16 __attribute__((vector_size(128)));

template <>
struct Rows<double> : VectorMasks<Double16, Long16, 16> {
  static V sqrt(V x) {
    for (int i = 0; i < 16; ++i) x[i] = std::sqrt(x[i]);
    return x;
  }
};

#if defined(__AVX512F__)
// Natural log of 16 positive normal floats: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9 (truncation
// below 1e-9): within a few float roundings of the true value.
inline Float16 log16(Float16 x) {
  Float16 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  Float16 e = _mm512_getexp_ps(x);
  const __mmask16 big = _mm512_cmp_ps_mask(m, Float16{} + 1.41421356f, _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, Float16{} + 0.5f);
  e = _mm512_mask_add_ps(e, big, e, Float16{} + 1.0f);
  const Float16 s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  Float16 p = Float16{} + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return e * 0.693147180559945f + 2.0f * s * p;
}

// r[i][j] -> r[j][i] for 16 vectors of 16 floats: pairs of rows interleaved, then quads,
// then 128-bit blocks moved across vectors (64 shuffles).
inline void transpose16(Float16 r[16]) {
  Float16 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + m], 128-bit block k: column 4k + m of rows 4i .. 4i + 3
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int m = 0; m < 4; ++m) {
    const Float16 u0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44);
    const Float16 u1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
    const Float16 u2 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44);
    const Float16 u3 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
    t[m] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    t[8 + m] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}
#endif

#if defined(__AVX512F__)
// Per 128-bit block: (x0 + x1, x2 + x3, y0 + y1, y2 + y3), like vhaddps.
inline Float16 hadd16(Float16 x, Float16 y) {
  return _mm512_shuffle_ps(x, y, 0x88) + _mm512_shuffle_ps(x, y, 0xDD);
}
#endif

// Bit i of x moved to bit 2i (x < 2^16).
inline uint32_t spread_bits(uint32_t x) {
  x = (x | (x << 8)) & 0x00FF00FFu;
  x = (x | (x << 4)) & 0x0F0F0F0Fu;
  x = (x | (x << 2)) & 0x33333333u;
  x = (x | (x << 1)) & 0x55555555u;
  return x;
}

// out[i] = sum of the lanes of v[i], i < n (out has room for n rounded up to 16).
inline void reduce_lanes(const Pack<float>::V* v, int n, float* out) {
#if defined(__AVX512F__)
  // sixteen vectors at a time: pairs folded to half their 128-bit blocks twice (shuffles
  // across blocks), then two rounds of in-block horizontal adds; lane 4k + j of the result
  // holds the sum of vector 4j + k
  const Float16 zero{};
  for (int i = 0; i < n; i += 16) {
    const auto at = [&](int j) { return i + j < n ? v[i + j] : zero; };
    Float16 f[8], s[4];
    for (int p = 0; p < 8; ++p) {  // blocks (a0+a2, a1+a3, b0+b2, b1+b3)
      const Float16 a = at(2 * p), b = at(2 * p + 1);
      f[p] = _mm512_shuffle_f32x4(a, b, 0x44) + _mm512_shuffle_f32x4(a, b, 0xEE);
      if (i + 2 * p + 2 >= n) {
        for (int q = p + 1; q < 8; ++q) f[q] = zero;
        break;
      }
    }
    for (int q = 0; q < 4; ++q) {  // block k: partial sums of vector 4q + k
      s[q] = _mm512_shuffle_f32x4(f[2 * q], f[2 * q + 1], 0x88) +
             _mm512_shuffle_f32x4(f[2 * q], f[2 * q + 1], 0xDD);
    }
    const Float16 q = hadd16(hadd16(s[0], s[1]), hadd16(s[2], s[3]));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out + i, _mm512_permutexvar_ps(order, q));
  }
#elif defined(__AVX__)
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
