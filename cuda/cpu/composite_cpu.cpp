// Tile compositing on the CPU: forward and hand-written backward.
//
// Algorithm: the tile-based front-to-back alpha blending of 3D Gaussian Splatting (Kerbl et
// al., 2023), with gsplat v1.5's stopping rules (see raster_math.h). Work is split per 16x16
// tile; threads take tiles from a shared counter so that busy central tiles do not serialise.
// Within a tile the loop runs over the depth-sorted Gaussians and, for each, over the pixel
// packs (simd.h: whole 16-pixel rows with AVX-512, 8-pixel half rows otherwise) that its
// alpha >= 1/255 ellipse crosses (Footprint, all 16 rows in one SIMD pass), one pack per
// vector operation. Packs whose pixels have all stopped are skipped (a bit mask per pack of
// the pixels still blending), and a tile stops as soon as all its pixels have.
//
// The backward pass recomputes the blend front to back (like the PyTorch reference in
// splat3d/raster/composite.py) using the saved per-pixel count of visited Gaussians; the
// blend weight of everything behind Gaussian i is the pixel total minus a running prefix.
// Per-Gaussian gradients are summed over a tile's pixels in per-lane registers (moments of
// dL/dpower in dx and the row's dy, turned into mean and conic gradients once per Gaussian)
// and written to the row of that (tile, Gaussian) pair, which only its tile writes (rows
// exist only for the pairs before a tile's stopping point). Each Gaussian's rows are then
// summed in pair order (tile order), so the gradients are the same bit for bit whatever the
// thread count and whichever thread ran which tile (summing per-thread rows instead would
// make the order of the additions depend on the scheduling).
//
// Per-Gaussian inputs are packed into one cache line each before the tile loops (with
// AVX-512, 16 Gaussians at a time through a register transpose).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "../raster_ops.h"
#include "parallel.h"
#include "simd.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr int kGradSlots = 6;  // mean x, mean y, conic a, b, c, opacity
constexpr int64_t kParallelRows = int64_t(1) << 18;  // visited pairs summed on several threads
constexpr int kPrefetch = 4;   // records are prefetched this many list entries ahead

struct Geometry {
  int64_t C, N, F, width, height, tiles_x, tiles_y;
};

// One tile's place in the image, computed once per tile (no divisions per pixel).
struct TilePlace {
  int64_t x0, y0;    // first pixel
  int cols, rows;    // pixels inside the image (16 except at the right and bottom edges)
  int64_t base;      // flat index of the first pixel in [C, H, W]
  int64_t width;

  TilePlace(const Geometry& g, int64_t tile) {
    const int64_t per_cam = g.tiles_x * g.tiles_y, cam = tile / per_cam, local = tile % per_cam;
    x0 = local % g.tiles_x * kTile;
    y0 = local / g.tiles_x * kTile;
    cols = static_cast<int>(std::min<int64_t>(kTile, g.width - x0));
    rows = static_cast<int>(std::min<int64_t>(kTile, g.height - y0));
    base = (cam * g.height + y0) * g.width + x0;
    width = g.width;
  }
};

Geometry geometry(const at::Tensor& features, int64_t width, int64_t height) {
  return {features.size(0), features.size(1), features.size(2), width, height,
          (width + kTile - 1) / kTile, (height + kTile - 1) / kTile};
}

// Per-Gaussian record gathered once before the tile loops, so a pair costs one cache line
// (the size is rounded up to whole 32/64-byte blocks): mean (2), conic (3), opacity, a times
// the padded ellipse level, 1 / a, det of the conic, features (F).
constexpr int kRecord = 9;

inline int64_t record_size(int64_t F) { return (kRecord + F + 7) / 8 * 8; }

// pack_records for float RGB+depth records, 16 Gaussians at a time: fields gathered into
// vectors, the level's log and det computed there, the vectors transposed into 16 records.
// Returns the first Gaussian left to the scalar loop (all of them without AVX-512).
inline int64_t pack_records16(const float* m, const float* q, const float* o, const float* f,
                              float* out, int64_t begin, int64_t end) {
#if defined(__AVX512F__)
  static_assert(kRecord + 4 == 13, "record layout");
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i by2 = _mm512_slli_epi32(lane, 1), by4 = _mm512_slli_epi32(lane, 2);
  const __m512i by3 = _mm512_add_epi32(by2, lane);
  for (; begin + 16 <= end; begin += 16) {
    const int64_t i = begin;
    Float16 r[16];
    r[0] = _mm512_i32gather_ps(by2, m + 2 * i, 4);
    r[1] = _mm512_i32gather_ps(by2, m + 2 * i + 1, 4);
    const Float16 a = _mm512_i32gather_ps(by3, q + 3 * i, 4);
    const Float16 b = _mm512_i32gather_ps(by3, q + 3 * i + 1, 4);
    const Float16 c = _mm512_i32gather_ps(by3, q + 3 * i + 2, 4);
    const Float16 op = _mm512_loadu_ps(o + i);
    r[2] = a;
    r[3] = b;
    r[4] = c;
    r[5] = op;
    // as in the scalar loop: max(o, 1/255) keeps a NaN opacity NaN
    const Float16 level =
        (2.0f * log16(255.0f * Pack<float>::max(Float16{} + float(1.0 / 255.0), op))) *
            (1.0f + 1e-3f) + 1e-3f;
    r[6] = a * level;
    r[7] = 1.0f / a;
    // det = a c - b² to about one rounding: the error of b² (exact by fma) added back
    const Float16 bb = b * b;
    r[8] = _mm512_fmsub_ps(a, c, bb) - _mm512_fmsub_ps(b, b, bb);
    for (int ch = 0; ch < 4; ++ch) r[kRecord + ch] = _mm512_i32gather_ps(by4, f + 4 * i + ch, 4);
    for (int j = kRecord + 4; j < 16; ++j) r[j] = Float16{};
    transpose16(r);
    for (int j = 0; j < 16; ++j) _mm512_storeu_ps(out + (i + j) * 16, r[j]);
  }
#else
  (void)m, (void)q, (void)o, (void)f, (void)out, (void)end;
#endif
  return begin;
}

template <typename T>
at::Tensor pack_records(const at::Tensor& means2d, const at::Tensor& conics,
                        const at::Tensor& opacities, const at::Tensor& features) {
  const int64_t CN = opacities.numel(), F = features.size(2), size = record_size(F);
  auto packed = at::empty({CN, size}, features.options());
  const T* m = means2d.data_ptr<T>();
  const T* q = conics.data_ptr<T>();
  const T* o = opacities.data_ptr<T>();
  const T* f = features.data_ptr<T>();
  T* out = packed.data_ptr<T>();
  parallel_for(CN, 4096, [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      if (F == 4) begin = pack_records16(m, q, o, f, out, begin, end);
    }
    for (int64_t i = begin; i < end; ++i) {
      T* r = out + i * size;
      const T a = q[3 * i], b = q[3 * i + 1], c = q[3 * i + 2];
      r[0] = m[2 * i];
      r[1] = m[2 * i + 1];
      r[2] = a;
      r[3] = b;
      r[4] = c;
      r[5] = o[i];
      // the level of binning_cpu.cpp, 2 ln(255 o) with a 1e-3 relative and absolute pad, far
      // above the rounding of the log in T
      const T op = std::max(o[i], T(1.0 / 255.0));
      const double level = double(T(2) * std::log(T(255) * op)) * (1.0 + 1e-3) + 1e-3;
      r[6] = T(a * level);
      r[7] = T(1.0 / a);
      r[8] = T(double(a) * c - double(b) * b);  // exact products of floats
      for (int64_t ch = 0; ch < F; ++ch) r[kRecord + ch] = f[i * F + ch];
      for (int64_t j = kRecord + F; j < size; ++j) r[j] = T(0);
    }
  });
  return packed;
}

// Pixel packs of a tile: bit s = r * kSegsPerRow + h stands for the kPack pixels h kPack ..
// (h + 1) kPack - 1 of tile row r (a whole row with AVX-512, half a row otherwise).
constexpr int kSegsPerRow = kTile / kPack;
constexpr int kSegs = kTilePixels / kPack;
static_assert(kSegsPerRow == 1 || kSegsPerRow == 2, "packs are whole or half rows");

// Where in a tile one Gaussian can have alpha >= 1/255: the bits of the segments its padded
// ellipse a dx² + 2 b dx dy + c dy² <= level crosses, all 16 rows in one SIMD pass. For
// fixed dy the ellipse spans dx = (-b dy ± sqrt(a level - det dy²)) / a; the level carries a
// 1e-3 relative pad, far above the rounding of this arithmetic, so pixels left out have
// alpha < 1/255 and skipping them changes nothing.
template <typename T>
struct Footprint {
  using Dy = typename Rows<T>::V;
  uint32_t segs;
  T mx, my;  // mean relative to the tile's first pixel centre
  Dy dy;     // row r's pixel centres minus my, r < 16

  Footprint(const T* rec, int64_t tile_x0, int64_t tile_y0) {
    mx = T(double(rec[0]) - (double(tile_x0) + 0.5));
    my = T(double(rec[1]) - (double(tile_y0) + 0.5));
    using R = Rows<T>;
    using V = typename R::V;
    dy = iota_of<V>() - my;
    const V disc = rec[6] - rec[8] * dy * dy;
    const V half_width = R::sqrt(R::max(disc, V{})) * rec[7] + T(1e-3);
    const V centre = mx - rec[3] * dy * rec[7];
    const V lo = centre - half_width, hi = centre + half_width;  // pixel offsets in the tile
    const auto crosses = R::ge(disc, V{});
    const auto reaches_left = R::ge(hi, V{});
    const auto reaches_right = R::le(lo, V{} + T(kTile - 1));
    if constexpr (kSegsPerRow == 1) {
      segs = R::bits(R::both(R::both(crosses, reaches_left), reaches_right));
    } else {
      const uint32_t left =
          R::bits(R::both(R::both(crosses, reaches_left), R::le(lo, V{} + T(kPack - 1))));
      const uint32_t right =
          R::bits(R::both(R::both(crosses, reaches_right), R::ge(hi, V{} + T(kPack))));
      segs = spread_bits(left) | (spread_bits(right) << 1);
    }
  }
};

// Per-Gaussian terms of falloff_exponent (raster_math.h) in a tile: exponent(pack s of row
// r) = -(a dx² + c dy²) / 2 - b dx dy with the same operations as there (rounding is
// symmetric, so -(h + q) and -h - q are the same number), where a dx², b dx (per pack
// column) and dy, c dy² (per row, read as broadcast memory operands) are computed once.
template <typename T>
struct Falloff {
  using P = Pack<T>;
  using V = typename P::V;
  V dx[kSegsPerRow], adx2[kSegsPerRow], bdx[kSegsPerRow];
  alignas(64) T dy[kTile];
  alignas(64) T cdy2[kTile];

  Falloff(const Footprint<T>& fp, T a, T b, T c) {
    for (int h = 0; h < kSegsPerRow; ++h) {
      dx[h] = P::iota() + (T(h * kPack) - fp.mx);
      adx2[h] = a * dx[h] * dx[h];
      bdx[h] = b * dx[h];
    }
    store(dy, fp.dy);
    store(cdy2, c * fp.dy * fp.dy);
  }
  V exponent(int r, int h) const { return T(-0.5) * (adx2[h] + cdy2[r]) - bdx[h] * dy[r]; }
};

struct Bins {
  const int64_t* ids;
  const int64_t* starts;
  const int64_t* counts;
};

// FC: the number of features when known at compile time (0: g.F, read at run time).
template <typename T, int FC>
void forward_tile(const T* records, const Bins& bins, const Geometry& g, int64_t tile,
                  T* scratch, T* fsum, T* trans_out, int32_t* last_out) {
  const TilePlace place(g, tile);
  const int64_t x0 = place.x0, y0 = place.y0, F = FC > 0 ? FC : g.F;
  const int64_t rec_size = record_size(F);
  T* trans = scratch;            // [256] transmittance
  T* acc = trans + kTilePixels;  // [F, 256]
  int32_t last[kTilePixels];
  uint32_t open[kSegs];  // bit q: pixel q of the segment is still blending
  for (int s = 0; s < kSegs; ++s) {
    const int inside = s / kSegsPerRow < place.rows
                           ? std::clamp(place.cols - s % kSegsPerRow * kPack, 0, kPack)
                           : 0;
    open[s] = uint32_t((uint64_t(1) << inside) - 1);
  }
  std::fill(trans, trans + kTilePixels, T(1));
  std::fill(last, last + kTilePixels, 0);
  std::fill(acc, acc + F * kTilePixels, T(0));

  using P = Pack<T>;
  using V = typename P::V;
  using M = typename P::M;
  const V cap = V{} + Consts<T>::alpha_max;
  uint32_t live_mask = 0;  // segments with a pixel still blending
  for (int s = 0; s < kSegs; ++s) live_mask |= open[s] != 0 ? (1u << s) : 0u;
  const int64_t start = bins.starts[tile], count = bins.counts[tile];
  for (int64_t k = 0; k < count && live_mask != 0; ++k) {
    if (k + kPrefetch < count) {
      __builtin_prefetch(records + bins.ids[start + k + kPrefetch] * rec_size);
    }
    const T* rec = records + bins.ids[start + k] * rec_size;
    const Footprint<T> fp(rec, x0, y0);
    uint32_t todo = fp.segs & live_mask;
    if (todo == 0) continue;
    const T o = rec[5];
    const T* f = rec + kRecord;
    const Falloff<T> fall(fp, rec[2], rec[3], rec[4]);
    const int32_t taken = static_cast<int32_t>(k + 1);
    do {
      const int s = __builtin_ctz(todo);
      todo &= todo - 1;
      const int p0 = s * kPack;
      const V alpha = P::min(o * P::exp(fall.exponent(s / kSegsPerRow, s % kSegsPerRow)), cap);
      const V t = load<V>(trans + p0);
      const V next = t * (T(1) - alpha);
      const M blend = P::both(P::from_bits(open[s]), P::ge(alpha, V{} + Consts<T>::alpha_min));
      const M stop = P::both(blend, P::le(next, V{} + Consts<T>::t_stop));
      const M take = P::but_not(blend, stop);
      const V weight = P::where(take, alpha * t);
      P::store_where(trans + p0, take, next);
      P::store_where(last + p0, take, taken);
      for (int64_t ch = 0; ch < F; ++ch) {
        T* ac = acc + ch * kTilePixels + p0;
        store(ac, load<V>(ac) + weight * f[ch]);
      }
      const uint32_t stopped = P::bits(stop);
      if (stopped != 0) {
        open[s] &= ~stopped;
        if (open[s] == 0) live_mask &= ~(1u << s);
      }
    } while (todo);
  }

  for (int r = 0; r < place.rows; ++r) {  // rows of the tile inside the image, contiguous
    const int64_t pix0 = place.base + r * place.width;
    const int p0 = r * kTile;
    std::copy(trans + p0, trans + p0 + place.cols, trans_out + pix0);
    std::copy(last + p0, last + p0 + place.cols, last_out + pix0);
    for (int q = 0; q < place.cols; ++q) {
      for (int64_t ch = 0; ch < F; ++ch) fsum[(pix0 + q) * F + ch] = acc[ch * kTilePixels + p0 + q];
    }
  }
}

// Gradient rows [6 + F] of the pairs the backward pass visits: tile t's pairs k < (the
// farthest list index any of its pixels reached, usually a small part of its list) have rows
// first[t] + k, so the rows run in pair order. The tile that owns a row fills it and records
// its Gaussian; rows of pairs that met no pixel still blending keep owner -1.
template <typename T>
struct VisitedRows {
  T* rows;               // [V, slots]
  int64_t* owner;        // [V]
  const int64_t* first;  // [n_tiles + 1]
  int64_t slots;

  T* row(int64_t tile, int64_t k, int64_t gid) {
    const int64_t v = first[tile] + k;
    owner[v] = gid;
    T* r = rows + v * slots;
    std::fill(r, r + slots, T(0));
    return r;
  }
};

// first[t] of VisitedRows for every tile, and the total in first[n_tiles]: the prefix sums of
// the tiles' largest per-pixel count of visited list entries (``last`` of the forward pass).
// One thread: a pass over one int per pixel costs less than waking the others.
std::vector<int64_t> visited_row_offsets(const Geometry& g, const int32_t* last,
                                         int64_t n_tiles) {
  std::vector<int64_t> first(n_tiles + 1, 0);
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    const TilePlace place(g, tile);
    int32_t most = 0;
    for (int r = 0; r < place.rows; ++r) {
      const int32_t* row = last + place.base + r * place.width;
      most = std::max(most, *std::max_element(row, row + place.cols));
    }
    first[tile + 1] = first[tile] + most;
  }
  return first;
}

template <typename T, int FC>
void backward_tile(const T* records, const Bins& bins, const Geometry& g, int64_t tile,
                   const T* fsum, const T* trans_final, const int32_t* last_in,
                   const T* grad_fsum, const T* grad_trans, T* scratch, VisitedRows<T>& grads) {
  const TilePlace place(g, tile);
  const int64_t x0 = place.x0, y0 = place.y0, F = FC > 0 ? FC : g.F;
  const int64_t rec_size = record_size(F);
  T* trans = scratch;                  // [256] running transmittance
  T* rest = trans + kTilePixels;       // [256] Σ_{j>i} w_j f_j·g + T_final dL/dT_final
  T* gfeat = rest + kTilePixels;       // [F, 256] dL/dfsum, tile-local
  T* l_f = gfeat + F * kTilePixels;    // [F, kPack] per-lane feature gradients of one Gaussian
  int32_t last[kTilePixels];
  int32_t seg_last[kSegs];
  int32_t tile_last = 0;  // the blend of every pixel ends before this list index
  // pixels outside the image keep trans 1, rest 0, gfeat 0 and last 0: they are never taken
  std::fill(trans, trans + kTilePixels, T(1));
  std::fill(rest, rest + kTilePixels, T(0));
  std::fill(gfeat, gfeat + F * kTilePixels, T(0));
  std::fill(last, last + kTilePixels, 0);
  for (int r = 0; r < place.rows; ++r) {  // rows of the tile inside the image, contiguous
    const int64_t pix0 = place.base + r * place.width;
    const int p0 = r * kTile;
    std::copy(last_in + pix0, last_in + pix0 + place.cols, last + p0);
    for (int q = 0; q < place.cols; ++q) {
      const int64_t pix = pix0 + q;
      T k_total = grad_trans[pix] * trans_final[pix];
      for (int64_t ch = 0; ch < F; ++ch) {
        gfeat[ch * kTilePixels + p0 + q] = grad_fsum[pix * F + ch];
        k_total += grad_fsum[pix * F + ch] * fsum[pix * F + ch];
      }
      rest[p0 + q] = k_total;
    }
  }
  for (int s = 0; s < kSegs; ++s) {
    seg_last[s] = *std::max_element(last + s * kPack, last + (s + 1) * kPack);
    tile_last = std::max(tile_last, seg_last[s]);
  }

  const int64_t start = bins.starts[tile];
  using P = Pack<T>;
  using V = typename P::V;
  using M = typename P::M;
  const V cap = V{} + Consts<T>::alpha_max;
  // segments still inside their blend at step k, refreshed when one of them ends
  uint32_t alive = 0;
  int32_t next_end = 0;
  for (int64_t k = 0; k < tile_last; ++k) {
    if (k >= next_end) {
      alive = 0;
      next_end = tile_last;
      for (int s = 0; s < kSegs; ++s) {
        if (seg_last[s] <= k) continue;
        alive |= 1u << s;
        next_end = std::min(next_end, seg_last[s]);
      }
    }
    if (k + kPrefetch < tile_last) {
      __builtin_prefetch(records + bins.ids[start + k + kPrefetch] * rec_size);
    }
    const int64_t gid = bins.ids[start + k];
    const T* rec = records + gid * rec_size;
    const Footprint<T> fp(rec, x0, y0);
    uint32_t todo = fp.segs & alive;
    if (todo == 0) continue;
    const T a = rec[2], b = rec[3], c = rec[4], o = rec[5];
    const T* f = rec + kRecord;
    const Falloff<T> fall(fp, a, b, c);
    alignas(64) T dy2[kTile];
    store(dy2, fp.dy * fp.dy);
    // per-lane sums of g = dL/dpower times 1, dx, dx², dy, dx dy, dy² (dy is a scalar of
    // the row), from which the gradient moments follow; then feature gradients (FC > 0)
    constexpr int kSums = 6 + (FC > 0 ? FC : 0);
    V sums[kSums] = {};
    if constexpr (FC == 0) std::fill(l_f, l_f + F * kPack, T(0));
    const int32_t k32 = static_cast<int32_t>(k);
    do {
      const int s = __builtin_ctz(todo);
      todo &= todo - 1;
      const int r = s / kSegsPerRow, h = s % kSegsPerRow, p0 = s * kPack;
      const V dx = fall.dx[h];
      V fdotg{};
      for (int64_t ch = 0; ch < F; ++ch) fdotg += f[ch] * load<V>(gfeat + ch * kTilePixels + p0);
      const V alpha = P::min(o * P::exp(fall.exponent(r, h)), cap);
      const M take = P::both(P::before(k32, last + p0),
                             P::ge(alpha, V{} + Consts<T>::alpha_min));
      const V t = load<V>(trans + p0);
      const V w = P::where(take, alpha * t);
      const V wg = w * fdotg;
      const V behind = load<V>(rest + p0) - wg;
      store(rest + p0, behind);
      const V one_minus = T(1) - alpha;
      // dL/dpower = alpha dL/dalpha = w f·g - alpha (Σ behind) / (1 - alpha); zero where
      // alpha was clamped at 0.999 or skipped
      const V d_power = P::where(P::both(take, P::lt(alpha, cap)),
                                 wg - P::div(alpha * behind, one_minus));
      P::store_where(trans + p0, take, t * one_minus);
      const V g_dx = d_power * dx;
      sums[0] += d_power;
      sums[1] += g_dx;
      sums[2] += g_dx * dx;
      sums[3] += d_power * fall.dy[r];
      sums[4] += g_dx * fall.dy[r];
      sums[5] += d_power * dy2[r];
      if constexpr (FC > 0) {
        for (int ch = 0; ch < FC; ++ch) {
          sums[6 + ch] += w * load<V>(gfeat + ch * kTilePixels + p0);
        }
      } else {
        for (int64_t ch = 0; ch < F; ++ch) {
          T* lf = l_f + ch * kPack;
          store(lf, load<V>(lf) + w * load<V>(gfeat + ch * kTilePixels + p0));
        }
      }
    } while (todo);
    T total[kSums + 16];
    reduce_lanes(sums, kSums, total);
    // d sigma / d mean = -(Q d): the moments of falloff_grad (raster_math.h)
    FalloffMoments<T> m;
    m.mx = a * total[1] + b * total[3];
    m.my = b * total[1] + c * total[3];
    m.xx = total[2];
    m.xy = total[4];
    m.yy = total[5];
    m.g = total[0];
    T* dst = grads.row(tile, k, gid);
    falloff_grad_finish(m, o, dst);
    if constexpr (FC > 0) {
      for (int ch = 0; ch < FC; ++ch) dst[kGradSlots + ch] += total[6 + ch];
    } else {
      for (int64_t ch = 0; ch < F; ++ch) {
        T sum = 0;
        for (int q = 0; q < kPack; ++q) sum += l_f[ch * kPack + q];
        dst[kGradSlots + ch] += sum;
      }
    }
  }
}

template <typename T>
struct Outputs {
  T *means2d, *conics, *opacities, *features;
};

// outputs[i] = the sum of Gaussian i's visited rows in row order, for begin <= i < end (zero
// when it has none). Threads split the Gaussians, never one Gaussian's sum, so its additions
// happen in the same order whatever the thread count; each thread scans all rows.
template <typename T>
void sum_visited_rows(const VisitedRows<T>& visited, int64_t n_rows, int64_t F, int64_t begin,
                      int64_t end, const Outputs<T> out) {
  T* const o_m2 = out.means2d;
  T* const o_con = out.conics;
  T* const o_op = out.opacities;
  T* const o_f = out.features;
  std::fill(o_m2 + 2 * begin, o_m2 + 2 * end, T(0));
  std::fill(o_con + 3 * begin, o_con + 3 * end, T(0));
  std::fill(o_op + begin, o_op + end, T(0));
  std::fill(o_f + F * begin, o_f + F * end, T(0));
  for (int64_t v = 0; v < n_rows; ++v) {
    const int64_t i = visited.owner[v];
    if (i < begin || i >= end) continue;  // another range's, or unwritten (-1)
    const T* r = visited.rows + v * visited.slots;
    o_m2[2 * i] += r[0];
    o_m2[2 * i + 1] += r[1];
    for (int j = 0; j < 3; ++j) o_con[3 * i + j] += r[2 + j];
    o_op[i] += r[5];
    for (int64_t ch = 0; ch < F; ++ch) o_f[i * F + ch] += r[kGradSlots + ch];
  }
}

void check_inputs(const at::Tensor& means2d, const at::Tensor& conics,
                  const at::Tensor& opacities, const at::Tensor& features,
                  const at::Tensor& extents, const at::Tensor& ids, const at::Tensor& starts,
                  const at::Tensor& counts) {
  const auto dtype = means2d.scalar_type();
  for (const at::Tensor* t : {&means2d, &conics, &opacities, &features, &extents}) {
    TORCH_CHECK(t->is_contiguous() && t->scalar_type() == dtype && t->device().is_cpu(),
                "splat3d native composite: floating inputs must be contiguous CPU tensors of ",
                "one dtype");
  }
  for (const at::Tensor* t : {&ids, &starts, &counts}) {
    TORCH_CHECK(t->is_contiguous() && t->scalar_type() == at::kLong,
                "splat3d native composite: bins must be contiguous int64 tensors");
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width,
    int64_t height) {
  check_inputs(means2d, conics, opacities, features, extents, gaussian_ids, tile_starts,
               tile_counts);
  const Geometry g = geometry(features, width, height);
  // every pixel is written by its tile
  auto fsum = at::empty({g.C, height, width, g.F}, features.options());
  auto trans = at::empty({g.C, height, width}, features.options());
  auto last = at::empty({g.C, height, width}, features.options().dtype(at::kInt));
  const int64_t n_tiles = tile_counts.numel();
  const int n_workers = num_workers();
  const Bins bins{gaussian_ids.data_ptr<int64_t>(), tile_starts.data_ptr<int64_t>(),
                  tile_counts.data_ptr<int64_t>()};
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "composite_forward_cpu", [&] {
    const auto records =
        pack_records<scalar_t>(means2d, conics, opacities, features);
    const int64_t per_worker = (1 + g.F) * kTilePixels;
    std::vector<scalar_t> scratch(per_worker * n_workers);
    scalar_t* fs = fsum.data_ptr<scalar_t>();
    scalar_t* tr = trans.data_ptr<scalar_t>();
    int32_t* ls = last.data_ptr<int32_t>();
    const scalar_t* recs = records.data_ptr<scalar_t>();
    for_each_chunk(n_tiles, [&](int w, int64_t tile) {
      // RGB + depth, the usual case, has its feature loops unrolled
      (g.F == 4 ? forward_tile<scalar_t, 4> : forward_tile<scalar_t, 0>)(
          recs, bins, g, tile, scratch.data() + w * per_worker, fs, tr, ls);
    });
  });
  return {fsum, trans, last};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_backward_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, const at::Tensor& fsum,
    const at::Tensor& trans, const at::Tensor& last, const at::Tensor& grad_fsum,
    const at::Tensor& grad_trans) {
  check_inputs(means2d, conics, opacities, features, extents, gaussian_ids, tile_starts,
               tile_counts);
  const auto dtype = features.scalar_type();
  TORCH_CHECK(grad_fsum.is_contiguous() && grad_trans.is_contiguous() &&
                  grad_fsum.scalar_type() == dtype && grad_trans.scalar_type() == dtype &&
                  last.scalar_type() == at::kInt,
              "splat3d native composite backward: gradients must be contiguous, dtype ",
              dtype);
  const int64_t height = trans.size(1), width = trans.size(2);
  const Geometry g = geometry(features, width, height);
  const int64_t slots = kGradSlots + g.F;
  const int64_t n_tiles = tile_counts.numel();
  const int n_workers = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(num_workers(), n_tiles)));
  const int64_t CN = g.C * g.N;
  auto g_means2d = at::empty({g.C, g.N, 2}, features.options());
  auto g_conics = at::empty({g.C, g.N, 3}, features.options());
  auto g_opacities = at::empty({g.C, g.N}, features.options());
  auto g_features = at::empty({g.C, g.N, g.F}, features.options());
  const Bins bins{gaussian_ids.data_ptr<int64_t>(), tile_starts.data_ptr<int64_t>(),
                  tile_counts.data_ptr<int64_t>()};
  AT_DISPATCH_FLOATING_TYPES(dtype, "composite_backward_cpu", [&] {
    using T = scalar_t;
    const auto records = pack_records<T>(means2d, conics, opacities, features);
    const T* recs = records.data_ptr<T>();
    const int64_t per_worker = (2 + g.F) * kTilePixels + g.F * kPack;
    std::vector<T> scratch(per_worker * n_workers);
    // one gradient row per visited pair, [V, 6+F], summed per Gaussian at the end
    const std::vector<int64_t> first =
        visited_row_offsets(g, last.data_ptr<int32_t>(), n_tiles);
    const int64_t n_rows = first[n_tiles];
    std::unique_ptr<T[]> buffer(new T[std::max<int64_t>(1, n_rows * slots)]);
    std::vector<int64_t> owner(n_rows, -1);
    VisitedRows<T> visited{buffer.get(), owner.data(), first.data(), slots};
    for_each_chunk(n_tiles, [&](int w, int64_t tile) {
      // RGB + depth, the usual case, has its feature loops unrolled
      (g.F == 4 ? backward_tile<T, 4> : backward_tile<T, 0>)(
          recs, bins, g, tile, fsum.data_ptr<T>(), trans.data_ptr<T>(),
          last.data_ptr<int32_t>(), grad_fsum.data_ptr<T>(), grad_trans.data_ptr<T>(),
          scratch.data() + w * per_worker, visited);
    });
    const Outputs<T> out{g_means2d.data_ptr<T>(), g_conics.data_ptr<T>(),
                         g_opacities.data_ptr<T>(), g_features.data_ptr<T>()};
    // one range of Gaussians per worker (each range scans every row), for many rows only: a
    // parallel call is a fork/join of the threads, which costs more than a small sum
    const int64_t n_ranges = n_rows < kParallelRows ? 1 : n_workers;
    for_each_chunk(n_ranges, [&](int, int64_t r) {
      sum_visited_rows(visited, n_rows, g.F, CN * r / n_ranges, CN * (r + 1) / n_ranges, out);
    });
  });
  return {g_means2d, g_conics, g_opacities, g_features};
}

}  // namespace splat3d
