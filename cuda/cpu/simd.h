// Eight-pixel SIMD packs for the CPU compositor, on GCC/Clang vector extensions so the hot
// loops are vectorised whatever the auto-vectoriser decides (float: one AVX2 register;
// double: two, or the SSE equivalent on older CPUs).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace splat3d {

constexpr int kPack = 8;  // pixels per pack

template <typename T>
struct Pack;

template <>
struct Pack<float> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t M __attribute__((vector_size(32)));  // lane masks: -1 true, 0 false
  static constexpr V iota() { return V{0, 1, 2, 3, 4, 5, 6, 7}; }

  // exp_vec (raster_math.h) on eight lanes: the same range reduction and polynomial.
  static V exp(V x) {
    x = x < V{} - 87.0f ? V{} - 87.0f : x;
    x = x > V{} + 88.0f ? V{} + 88.0f : x;
    const V y = x * 1.44269504088896341f + 0.5f;
    M n = __builtin_convertvector(y, M);              // truncation towards zero
    n += y < __builtin_convertvector(n, V);  // true lanes are -1: truncation -> floor
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
    const M bits = (n + 127) << 23;
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
  }
};

template <>
struct Pack<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t M __attribute__((vector_size(64)));
  static constexpr V iota() { return V{0, 1, 2, 3, 4, 5, 6, 7}; }

  // float64 renders are for checking; the library exp keeps them exact.
  static V exp(V x) {
    for (int i = 0; i < kPack; ++i) x[i] = std::exp(x[i]);
    return x;
  }
};

typedef int32_t Int8x __attribute__((vector_size(32)));  // eight int32 lanes

// Number of true lanes of a mask.
inline int count_true(Pack<float>::M m) {
#if defined(__AVX__)
  return __builtin_popcount(__builtin_ia32_movmskps256(reinterpret_cast<__attribute__((
      vector_size(32))) float&>(m)));
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

// Lane mask of type M from eight int32 lanes (-1 / 0).
template <typename M>
inline M widen(Int8x mask) {
  return __builtin_convertvector(mask, M);
}

// out[i] = sum of the lanes of v[i], i < n (out has room for n rounded up to kPack).
inline void reduce_lanes(const Pack<float>::V* v, int n, float* out) {
#if defined(__AVX__)
  const Pack<float>::V zero{};
  for (int i = 0; i < n; i += kPack) {
    Pack<float>::V r[kPack];
    for (int j = 0; j < kPack; ++j) r[j] = i + j < n ? v[i + j] : zero;
    // three rounds of pairwise horizontal adds turn 8 vectors into their 8 lane sums
    const auto h01 = __builtin_ia32_haddps256(r[0], r[1]), h23 = __builtin_ia32_haddps256(r[2], r[3]);
    const auto h45 = __builtin_ia32_haddps256(r[4], r[5]), h67 = __builtin_ia32_haddps256(r[6], r[7]);
    const auto q0 = __builtin_ia32_haddps256(h01, h23), q1 = __builtin_ia32_haddps256(h45, h67);
    // q0 = [s0 s1 s2 s3 | s0' s1' s2' s3'] (low and high 128-bit halves), likewise q1
    const Pack<float>::V lo = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 8, 9, 10, 11);
    const Pack<float>::V hi = __builtin_shufflevector(q0, q1, 4, 5, 6, 7, 12, 13, 14, 15);
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
