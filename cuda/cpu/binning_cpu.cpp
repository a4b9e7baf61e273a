// Tile binning on the CPU: (tile, Gaussian) pairs sorted by tile, then front to back.
//
// A Gaussian is listed in a tile when its alpha >= 1/255 ellipse {d : dᵀ Q d <= 2 ln(255 o)}
// reaches the rectangle spanned by the tile's pixel centres, padded slightly so float
// rounding never drops a contributing pair. The test is exact and costs O(1) per tile row:
// the ellipse's part inside a row band of tiles is convex, so its x-range there is one
// interval, [min L(dy), max R(dy)] over the band's dy, where L and R are the ellipse's left
// and right boundary; L is convex and R concave, so each extreme is at the ellipse's
// leftmost (rightmost) point when the band contains it and at the nearer band edge
// otherwise. The tiles whose x-span meets that interval are listed, within the candidate
// box of splat3d/raster/binning.py (the conservative extent box), so the result is a subset
// of the PyTorch backend's pairs that renders identically.
//
// Passes (every split into chunks is fixed, so the output does not depend on the thread
// count):
//  1. depth keys (the float32 depth's bits, the PyTorch binning's sort key) in index order;
//  2. each camera's valid Gaussians front to back: a stable LSD radix sort of (key, index)
//     packed in 64 bits, over only the key bits in which the camera's keys differ (up to
//     12-bit digits, so mostly two passes); ties stay in index order. The depth order is
//     cut into fixed chunks, and the sort's last pass notes each Gaussian's chunk;
//  3. in index order (inputs read sequentially), blocks of Gaussians get their ellipse
//     quantities and the tile columns of their first two tile rows four at a time in double
//     vectors (the same IEEE operations as the scalar expressions, so the same values);
//     a box of at most 2 x 2 tiles (most Gaussians) keeps its tiles as a 4-bit mask,
//     branch-free, larger ones run the scalar rows into the index chunk's tile list; the
//     tiles are counted per (depth chunk, tile) by the thread that finds them;
//  4. prefix sums give every (tile, depth chunk) its output slot, and the depth chunks fill
//     their slots front to back in parallel, so every tile's list comes out in depth order
//     without a per-tile sort.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "../raster_ops.h"
#include "parallel.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr double kLevelPad = 1e-3;      // relative and absolute slack on the ellipse level
constexpr int64_t kIndexChunk = 4096;   // Gaussians per chunk of the index-order pass
// Items per chunk of the depth keys and the radix sort: these passes are cheap, so they run
// in parallel only for large scenes (each parallel call is a fork/join of the threads,
// which costs more than it saves on small inputs, and far more on a busy machine).
constexpr int64_t kKeyChunk = int64_t(1) << 18;
constexpr int64_t kChunk = 2048;        // Gaussians per depth-order chunk (at most kMaxChunks)
constexpr int64_t kMaxChunks = 64;
constexpr int kMaxDigitBits = 12;
constexpr int64_t kPrefetch = 8;        // depth-order records are prefetched this far ahead

// An array of n values left uninitialised: every entry that is read is written first.
template <typename T>
std::unique_ptr<T[]> uninitialised(int64_t n) {
  return std::unique_ptr<T[]>(new T[std::max<int64_t>(n, 1)]);
}

// Order-preserving map of a float's bits to an unsigned key.
inline uint32_t depth_key(float z) {
  uint32_t bits;
  std::memcpy(&bits, &z, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

// Stable LSD radix sort of ``items`` (key in the high 32 bits, payload in the low ones) by
// the low ``bits`` bits of the key; ``tmp`` is scratch of the same size. Calls
// placed(position, item) for every item as it reaches its final position. The digits of a
// pass are histogrammed per fixed chunk of the current order, so chunk k's items with digit
// d go after those of chunks < k: the scatter is stable whatever thread runs which chunk.
template <typename Placed>
void radix_sort(uint64_t* items, uint64_t* tmp, int64_t n, int bits, const Placed& placed) {
  if (n < 2 || bits <= 0) {
    for (int64_t i = 0; i < n; ++i) placed(i, items[i]);
    return;
  }
  const int passes = (bits + kMaxDigitBits - 1) / kMaxDigitBits;
  const int digit_bits = (bits + passes - 1) / passes;
  const int64_t n_digits = int64_t(1) << digit_bits;
  const uint64_t mask = uint64_t(n_digits - 1);
  const int64_t n_chunks = (n + kKeyChunk - 1) / kKeyChunk;
  std::vector<int64_t> offsets(n_chunks * n_digits);
  for (int pass = 0; pass < passes; ++pass) {
    const int shift = 32 + pass * digit_bits;
    const uint64_t* src = pass % 2 == 0 ? items : tmp;
    uint64_t* dst = pass % 2 == 0 ? tmp : items;
    for_each_chunk(n_chunks, [&](int, int64_t k) {
      int64_t* hist = offsets.data() + k * n_digits;
      std::fill(hist, hist + n_digits, 0);
      const int64_t end = std::min(n, (k + 1) * kKeyChunk);
      for (int64_t i = k * kKeyChunk; i < end; ++i) ++hist[(src[i] >> shift) & mask];
    });
    int64_t running = 0;
    for (int64_t d = 0; d < n_digits; ++d) {
      for (int64_t k = 0; k < n_chunks; ++k) {
        const int64_t c = offsets[k * n_digits + d];
        offsets[k * n_digits + d] = running;
        running += c;
      }
    }
    for_each_chunk(n_chunks, [&](int, int64_t k) {
      int64_t* next = offsets.data() + k * n_digits;
      const int64_t end = std::min(n, (k + 1) * kKeyChunk);
      if (pass + 1 < passes) {
        for (int64_t i = k * kKeyChunk; i < end; ++i) {
          const uint64_t item = src[i];
          dst[next[(item >> shift) & mask]++] = item;
        }
      } else {
        for (int64_t i = k * kKeyChunk; i < end; ++i) {
          const uint64_t item = src[i];
          const int64_t at = next[(item >> shift) & mask]++;
          dst[at] = item;
          placed(at, item);
        }
      }
    });
  }
  if (passes % 2 == 1) std::copy(tmp, tmp + n, items);
}

struct BinView {
  int64_t C, N, width, height, tiles_x, tiles_y;
};

// A Gaussian's tiles. b >= 0: the b entries from a of its index chunk's tile list; b < 0
// (a box of at most 2 x 2 tiles whose first tile is a): the tiles a + {0, 1, tiles_x,
// tiles_x + 1} whose bits 0..3 are set in -1 - b.
struct Span {
  int32_t a, b;
};

// Tiles of one index chunk, appended through a raw pointer (room is made per Gaussian from
// its candidate box, an upper bound on its tile count).
struct TileList {
  std::vector<int32_t> data;
  int64_t size = 0;
  int32_t* room(int64_t n) {
    if (size + n > static_cast<int64_t>(data.size())) {
      data.resize(std::max<int64_t>(2 * data.size(), size + n));
    }
    return data.data() + size;
  }
};

// Four doubles in one vector (GCC/Clang vector extensions): IEEE operations lane by lane,
// so every value equals the scalar expression's.
typedef double D4 __attribute__((vector_size(32)));
typedef int32_t I4 __attribute__((vector_size(16)));

inline D4 load4(const double* p) {
  D4 x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

template <typename V, typename S>
inline void store(S* p, V x) {
  std::memcpy(p, &x, sizeof x);
}

inline D4 sqrt4(D4 x) {
#if defined(__AVX__)
  return __builtin_ia32_sqrtpd256(x);
#else
  for (int i = 0; i < 4; ++i) x[i] = __builtin_sqrt(x[i]);
  return x;
#endif
}

inline D4 ceil4(D4 x) {
#if defined(__AVX__)
  return __builtin_ia32_roundpd256(x, 0x0A);  // towards +inf, no precision exception
#else
  for (int i = 0; i < 4; ++i) x[i] = std::ceil(x[i]);
  return x;
#endif
}

inline D4 floor4(D4 x) {
#if defined(__AVX__)
  return __builtin_ia32_roundpd256(x, 0x09);
#else
  for (int i = 0; i < 4; ++i) x[i] = std::floor(x[i]);
  return x;
#endif
}

inline D4 max4(D4 a, D4 b) { return a < b ? b : a; }  // std::max, NaN lanes included
inline D4 min4(D4 a, D4 b) { return b < a ? b : a; }  // std::min
inline D4 clamp4(D4 x, D4 lo, D4 hi) { return x < lo ? lo : (hi < x ? hi : x); }  // std::clamp

constexpr int kBlock = 256;  // Gaussians whose ellipse quantities are computed together
constexpr int kRows = 2;     // tile rows per Gaussian computed in the vector pass

// Per-Gaussian quantities of one block, computed four at a time: the candidate tile box and
// the ellipse's level, determinant, 1/a, a level, y half-extent and leftmost point's dy.
struct Block {
  alignas(32) double mx[kBlock], my[kBlock], lo_x[kBlock], hi_x[kBlock], lo_y[kBlock],
      hi_y[kBlock], a[kBlock], b[kBlock], c[kBlock], level[kBlock], det[kBlock],
      inv_a[kBlock], a_level[kBlock], half_y[kBlock], dy_left[kBlock];
  // first and last tile column of the box's first kRows tile rows (none: t1 < t0)
  alignas(32) int32_t t0[kRows][kBlock], t1[kRows][kBlock];
  // -1: the tiles are those of the first kRows rows, at most two per row; else 0
  alignas(32) int32_t fast[kBlock];

  template <typename T>
  void compute(const T* means2d, const T* conics, const T* opacities, const T* extents,
               const bool* ok, const BinView& v, int64_t begin, int n) {
    alignas(32) double ex[kBlock], ey[kBlock];
    for (int i = 0; i < n; ++i) {
      const int64_t gid = begin + i;
      mx[i] = means2d[2 * gid];
      my[i] = means2d[2 * gid + 1];
      ex[i] = extents[2 * gid];
      ey[i] = extents[2 * gid + 1];
      a[i] = conics[3 * gid];
      b[i] = conics[3 * gid + 1];
      c[i] = conics[3 * gid + 2];
      level[i] = 0;
      if (!ok[gid]) continue;
      const double o = std::max(double(opacities[gid]), 1.0 / 255.0);
      level[i] = 2.0 * std::log(255.0 * o) * (1.0 + kLevelPad) + kLevelPad;
    }
    for (int i = n; i < (n + 3) / 4 * 4; ++i) {
      mx[i] = my[i] = ex[i] = ey[i] = a[i] = b[i] = c[i] = level[i] = 0;
    }
    const D4 last_x = D4{} + double(v.tiles_x - 1), last_y = D4{} + double(v.tiles_y - 1);
    const double x_last = double(v.width) - 0.5;  // last pixel centre
    for (int i = 0; i < n; i += 4) {
      const D4 mx4 = load4(mx + i);
      const D4 my4 = load4(my + i);
      const D4 ex4 = load4(ex + i) * 1.0001 + 1e-3;
      const D4 ey4 = load4(ey + i) * 1.0001 + 1e-3;
      // tile t holds pixel centres [16 t + 0.5, 16 t + 15.5] (binning.py's box rule)
      store(lo_x + i, max4(D4{}, ceil4((mx4 - ex4 - (kTile - 0.5)) / kTile)));
      store(lo_y + i, max4(D4{}, ceil4((my4 - ey4 - (kTile - 0.5)) / kTile)));
      store(hi_x + i, min4(last_x, floor4((mx4 + ex4 - 0.5) / kTile)));
      store(hi_y + i, min4(last_y, floor4((my4 + ey4 - 0.5) / kTile)));
      const D4 a4 = load4(a + i);
      const D4 b4 = load4(b + i);
      const D4 c4 = load4(c + i);
      const D4 level4 = load4(level + i);
      const D4 det4 = a4 * c4 - b4 * b4;
      const D4 inv_a4 = 1.0 / a4, a_level4 = a4 * level4;
      const D4 half_y4 = sqrt4(level4 * a4 / det4);           // y half-extent of the ellipse
      const D4 dy_left4 = b4 * sqrt4(level4 / (c4 * det4));  // dy of its leftmost point
      store(det + i, det4);
      store(inv_a + i, inv_a4);
      store(a_level + i, a_level4);
      store(half_y + i, half_y4);
      store(dy_left + i, dy_left4);
      const D4 lo_x4 = load4(lo_x + i);
      const D4 hi_x4 = load4(hi_x + i);
      const D4 lo_y4 = load4(lo_y + i);
      const D4 hi_y4 = load4(hi_y + i);
      const D4 dl4 = det4 * level4;
      // the box has at most kRows rows and two columns and the ellipse test applies
      const auto small = (lo_x4 <= hi_x4) & (hi_x4 <= lo_x4 + 1.0) & (lo_y4 <= hi_y4) &
                         (hi_y4 <= lo_y4 + double(kRows - 1)) & (det4 > 0) & (a4 > 0) &
                         (c4 > 0) & (level4 > 0) & (dl4 - dl4 == 0);  // finite
      store(fast + i, __builtin_convertvector(small, I4));
      // the rows of bin(), four Gaussians at a time (same expressions, same values)
      for (int r = 0; r < kRows; ++r) {
        const D4 ty = lo_y4 + double(r);
        const D4 y0 = ty * kTile + 0.5;
        const D4 y1 = min4(ty * kTile + (kTile - 1), D4{} + double(v.height - 1)) + 0.5;
        const D4 d0 = max4(y0 - my4, -half_y4), d1 = min4(y1 - my4, half_y4);
        const D4 dl = clamp4(dy_left4, d0, d1), dr = clamp4(-dy_left4, d0, d1);
        const D4 x_min =
            mx4 + (-b4 * dl - sqrt4(max4(D4{}, a_level4 - det4 * dl * dl))) * inv_a4 - 1e-3;
        const D4 x_max =
            mx4 + (-b4 * dr + sqrt4(max4(D4{}, a_level4 - det4 * dr * dr))) * inv_a4 + 1e-3;
        const auto skip = (d0 > d1) | (x_max < 0.5) | (x_min > x_last) | (ty > hi_y4);
        const D4 t0d = max4(lo_x4, ceil4((x_min - (kTile - 0.5)) / kTile));
        const D4 t1d = min4(hi_x4, floor4((x_max - 0.5) / kTile));
        // skipped lanes: t0 = 0, t1 = -1; the others lie in [lo_x, hi_x], so fit int32
        const I4 skip32 = __builtin_convertvector(skip, I4);
        store(t0[r] + i, __builtin_convertvector(t0d, I4) & ~skip32);
        store(t1[r] + i, __builtin_convertvector(t1d, I4) | skip32);
      }
    }
  }

  // Writes the tiles of the block's Gaussian i (of camera cam) to ``list`` and returns how
  // many: the general path (any box, the box itself when the ellipse test does not apply).
  int64_t bin(int i, const BinView& v, int64_t cam, TileList& list) const {
    const double lo_x = this->lo_x[i], hi_x = this->hi_x[i];
    const double lo_y = this->lo_y[i], hi_y = this->hi_y[i];
    if (!(lo_x <= hi_x && lo_y <= hi_y)) return 0;
    const int64_t ty0 = int64_t(lo_y), ty1 = int64_t(hi_y);
    const int64_t tx0 = int64_t(lo_x), tx1 = int64_t(hi_x);
    int32_t* const first = list.room((ty1 - ty0 + 1) * (tx1 - tx0 + 1));
    int32_t* out = first;
    const int64_t row0 = cam * v.tiles_y;
    const double a = this->a[i], b = this->b[i], c = this->c[i];
    const double level = this->level[i], det = this->det[i];
    if (!(det > 0 && a > 0 && c > 0 && level > 0 && std::isfinite(det * level))) {
      for (int64_t ty = ty0; ty <= ty1; ++ty) {  // box only
        for (int64_t tx = tx0; tx <= tx1; ++tx) *out++ = int32_t((row0 + ty) * v.tiles_x + tx);
      }
      return out - first;
    }
    const double mx = this->mx[i], my = this->my[i];
    const double inv_a = this->inv_a[i], a_level = this->a_level[i];
    const double half_y = this->half_y[i], dy_left = this->dy_left[i];
    // left and right boundary at offset dy (|dy| <= half_y)
    const auto boundary = [&](double dy, double side) {
      return mx + (-b * dy + side * std::sqrt(std::max(0.0, a_level - det * dy * dy))) * inv_a;
    };
    for (int r = 0; r < kRows; ++r) {  // rows below ty1 are empty in the tables
      const int64_t base = (row0 + ty0 + r) * v.tiles_x;
      for (int32_t tx = t0[r][i]; tx <= t1[r][i]; ++tx) *out++ = int32_t(base + tx);
    }
    const double x_last = double(v.width) - 0.5;  // last pixel centre
    for (int64_t ty = ty0 + kRows; ty <= ty1; ++ty) {
      const double y0 = ty * kTile + 0.5;
      const double y1 = std::min(double(ty * kTile + kTile - 1), double(v.height - 1)) + 0.5;
      const double d0 = std::max(y0 - my, -half_y), d1 = std::min(y1 - my, half_y);
      if (d0 > d1) continue;
      const double x_min = boundary(std::clamp(dy_left, d0, d1), -1.0) - 1e-3;
      const double x_max = boundary(std::clamp(-dy_left, d0, d1), 1.0) + 1e-3;
      if (x_max < 0.5 || x_min > x_last) continue;
      // tiles whose pixel centres [16 t + 0.5, 16 t + 15.5] meet [x_min, x_max]
      const auto t0 = int64_t(std::max(lo_x, std::ceil((x_min - (kTile - 0.5)) / kTile)));
      const auto t1 = int64_t(std::min(hi_x, std::floor((x_max - 0.5) / kTile)));
      const int64_t base = (row0 + ty) * v.tiles_x;
      for (int64_t tx = t0; tx <= t1; ++tx) *out++ = int32_t(base + tx);
    }
    return out - first;
  }
};

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_gaussians_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& extents, const at::Tensor& depths, const at::Tensor& valid, int64_t width,
    int64_t height) {
  const auto dtype = means2d.scalar_type();
  for (const at::Tensor* t : {&means2d, &conics, &opacities, &extents, &depths}) {
    TORCH_CHECK(t->is_contiguous() && t->scalar_type() == dtype && t->device().is_cpu(),
                "splat3d native binning: inputs must be contiguous CPU tensors of one dtype");
  }
  TORCH_CHECK(valid.is_contiguous() && valid.scalar_type() == at::kBool,
              "splat3d native binning: valid must be a contiguous bool tensor");
  const BinView v{depths.size(0), depths.size(1), width, height,
                  (width + kTile - 1) / kTile, (height + kTile - 1) / kTile};
  const int64_t n_tiles = v.C * v.tiles_y * v.tiles_x;
  TORCH_CHECK(n_tiles + 2 * v.tiles_x < (int64_t(1) << 31),
              "splat3d native binning: too many tiles");
  TORCH_CHECK(v.C * v.N < (int64_t(1) << 31), "splat3d native binning: too many Gaussians");
  auto tile_counts = at::empty({n_tiles}, depths.options().dtype(at::kLong));
  auto tile_starts = at::empty({n_tiles}, depths.options().dtype(at::kLong));
  at::Tensor gaussian_ids;
  AT_DISPATCH_FLOATING_TYPES(dtype, "bin_gaussians_cpu", [&] {
    const scalar_t* m = means2d.data_ptr<scalar_t>();
    const scalar_t* q = conics.data_ptr<scalar_t>();
    const scalar_t* o = opacities.data_ptr<scalar_t>();
    const scalar_t* e = extents.data_ptr<scalar_t>();
    const scalar_t* z = depths.data_ptr<scalar_t>();
    const bool* ok = valid.data_ptr<bool>();
    const int64_t n_all = v.C * v.N;
    // 1. depth keys; per key chunk and camera the valid count and the key bits' and/or
    const int64_t n_kchunks = (n_all + kKeyChunk - 1) / kKeyChunk;
    const auto camera_range = [&](int64_t k) {  // cameras of key chunk k: first, count
      const int64_t first = (k * kKeyChunk) / v.N;
      const int64_t last = (std::min(n_all, (k + 1) * kKeyChunk) - 1) / v.N;
      return std::make_pair(first, last - first + 1);
    };
    std::vector<int64_t> stats_begin(n_kchunks + 1, 0);
    for (int64_t k = 0; k < n_kchunks; ++k) {
      stats_begin[k + 1] = stats_begin[k] + camera_range(k).second;
    }
    struct KeyStats {  // of one key chunk's valid Gaussians of one camera
      int64_t n_valid = 0;
      uint32_t key_and = ~0u, key_or = 0u;
    };
    std::vector<KeyStats> stats(stats_begin[n_kchunks]);
    const auto keys = uninitialised<uint32_t>(n_all);
    for_each_chunk(n_kchunks, [&](int, int64_t k) {
      const int64_t begin = k * kKeyChunk, end = std::min(n_all, begin + kKeyChunk);
      const auto [first, count] = camera_range(k);
      for (int64_t j = 0; j < count; ++j) {
        KeyStats st;
        const int64_t cam = first + j;
        for (int64_t gid = std::max(begin, cam * v.N); gid < std::min(end, (cam + 1) * v.N);
             ++gid) {
          const uint32_t key = depth_key(static_cast<float>(z[gid]));
          keys[gid] = key;
          if (!ok[gid]) continue;
          ++st.n_valid;
          st.key_and &= key;
          st.key_or |= key;
        }
        stats[stats_begin[k] + j] = st;
      }
    });
    // 2. valid Gaussians, camera by camera, each camera's front to back: (key, gid) items
    std::vector<int64_t> cam_begin(v.C + 1, 0);
    std::vector<int> cam_bits(v.C, 0);
    std::vector<int64_t> chunk_begin(n_kchunks + 1, 0);  // first item of each key chunk
    {
      std::vector<uint32_t> key_and(v.C, ~0u), key_or(v.C, 0u);
      for (int64_t k = 0; k < n_kchunks; ++k) {
        const int64_t first = camera_range(k).first;
        chunk_begin[k + 1] = chunk_begin[k];
        for (int64_t j = stats_begin[k]; j < stats_begin[k + 1]; ++j) {
          const KeyStats& st = stats[j];
          const int64_t cam = first + j - stats_begin[k];
          cam_begin[cam + 1] += st.n_valid;
          chunk_begin[k + 1] += st.n_valid;
          key_and[cam] &= st.key_and;
          key_or[cam] |= st.key_or;
        }
      }
      for (int64_t c = 0; c < v.C; ++c) {
        cam_begin[c + 1] += cam_begin[c];
        const uint32_t differ = key_and[c] ^ key_or[c];  // bits in which some keys differ
        cam_bits[c] = differ == 0 ? 0 : 32 - __builtin_clz(differ);
      }
    }
    const int64_t n_valid = cam_begin[v.C];
    const auto order = uninitialised<uint64_t>(n_valid), tmp = uninitialised<uint64_t>(n_valid);
    for_each_chunk(n_kchunks, [&](int, int64_t k) {
      uint64_t* out = order.get() + chunk_begin[k];
      const int64_t begin = k * kKeyChunk, end = std::min(n_all, begin + kKeyChunk);
      for (int64_t gid = begin; gid < end; ++gid) {
        if (ok[gid]) *out++ = (uint64_t(keys[gid]) << 32) | uint64_t(gid);
      }
    });
    // 3. the depth order is cut into fixed chunks; each valid Gaussian's chunk is noted as
    // the sort places it
    const int64_t n_chunks = std::min<int64_t>(kMaxChunks, (n_valid + kChunk - 1) / kChunk);
    const int64_t chunk = n_chunks > 0 ? (n_valid + n_chunks - 1) / n_chunks : 0;
    const auto chunk_of = uninitialised<uint8_t>(n_all);  // of the valid Gaussians
    static_assert(kMaxChunks <= 256, "chunk ids are stored in a byte");
    for (int64_t c = 0; c < v.C; ++c) {
      const int64_t begin = cam_begin[c];
      radix_sort(order.get() + begin, tmp.get(), cam_begin[c + 1] - begin, cam_bits[c],
                 [&](int64_t at, uint64_t item) {
                   chunk_of[static_cast<uint32_t>(item)] = uint8_t((begin + at) / chunk);
                 });
    }
    // 4. index order: each valid Gaussian's tiles, counted per (depth chunk, tile) in the
    // histogram of the worker that computes them
    const int n_workers = num_workers();
    const int64_t hist_size = n_chunks * n_tiles;
    // (the fast path below may add 0 up to tiles_x + 1 past a worker's last counter)
    const int64_t hist_stride = hist_size + 2 * v.tiles_x + 2;
    std::vector<int32_t> hists(n_workers * hist_stride, 0);
    const int64_t n_ichunks = (n_all + kIndexChunk - 1) / kIndexChunk;
    std::vector<TileList> lists(n_ichunks);
    const auto spans = uninitialised<Span>(n_all);  // of the valid Gaussians
    const int32_t quad[4] = {0, 1, int32_t(v.tiles_x), int32_t(v.tiles_x + 1)};  // 2 x 2 box
    for_each_chunk(n_ichunks, [&](int worker, int64_t k) {
      int32_t* const hist = hists.data() + worker * hist_stride;
      TileList list;
      list.data.resize(kIndexChunk / 4);  // (most Gaussians keep their tiles as a mask)
      auto block = std::make_unique<Block>();
      const int64_t begin = k * kIndexChunk, end = std::min(n_all, begin + kIndexChunk);
      int64_t cam = begin / v.N;
      for (int64_t b0 = begin; b0 < end; b0 += kBlock) {
        const int n = static_cast<int>(std::min<int64_t>(kBlock, end - b0));
        block->compute(m, q, o, e, ok, v, b0, n);
        for (int i = 0; i < n; ++i) {
          const int64_t gid = b0 + i;
          if (gid == (cam + 1) * v.N) ++cam;
          if (!ok[gid]) continue;
          int32_t* h = hist + chunk_of[gid] * n_tiles;
          if (block->fast[i]) {  // branch-free: a 2 x 2 mask of the box's tiles
            const int32_t tx0 = static_cast<int32_t>(block->lo_x[i]);
            const int32_t first = static_cast<int32_t>(
                (cam * v.tiles_y + int64_t(block->lo_y[i])) * v.tiles_x + tx0);
            const int32_t a0 = block->t0[0][i], a1 = block->t0[1][i];
            const int32_t n0 = block->t1[0][i] - a0 + 1, n1 = block->t1[1][i] - a1 + 1;
            // an empty row has n = 0, whatever its a
            const int32_t mask = (((1 << n0) - 1) << ((a0 - tx0) & 1)) |
                                 ((((1 << n1) - 1) << ((a1 - tx0) & 1)) << 2);
            // the candidates lie in [0, n_tiles + tiles_x]; unset ones add 0
            for (int j = 0; j < 4; ++j) h[first + quad[j]] += (mask >> j) & 1;
            spans[gid] = {first, -1 - mask};
          } else {
            const int64_t count = block->bin(i, v, cam, list);
            const int32_t* tiles = list.data.data() + list.size;
            for (int64_t j = 0; j < count; ++j) ++h[tiles[j]];
            spans[gid] = {static_cast<int32_t>(list.size), static_cast<int32_t>(count)};
            list.size += count;
          }
        }
      }
      lists[k] = std::move(list);
    });
    // 5. output slots: tile by tile, the tile's pairs chunk by chunk
    // slots[k * n_tiles + t]: where depth chunk k writes its next pair of tile t
    const auto slots = uninitialised<int64_t>(hist_size);
    int64_t* counts = tile_counts.data_ptr<int64_t>();
    int64_t* starts = tile_starts.data_ptr<int64_t>();
    int64_t running = 0;
    for (int64_t t = 0; t < n_tiles; ++t) {
      starts[t] = running;
      for (int64_t k = 0; k < n_chunks; ++k) {
        slots[k * n_tiles + t] = running;
        for (int w = 0; w < n_workers; ++w) running += hists[w * hist_stride + k * n_tiles + t];
      }
      counts[t] = running - starts[t];
    }
    // 6. each depth chunk fills its slots front to back
    gaussian_ids = at::empty({running}, depths.options().dtype(at::kLong));
    int64_t* ids = gaussian_ids.data_ptr<int64_t>();
    // per worker: where the chunk writes its next pair of each tile, and a sink (index
    // n_tiles, a slot of its own that is not advanced) for the masked-out tiles
    std::vector<int64_t*> heads(n_workers * (n_tiles + 1));
    std::vector<int64_t> sinks(n_workers * 8);  // a cache line each
    for_each_chunk(n_chunks, [&](int worker, int64_t k) {
      int64_t** next = heads.data() + worker * (n_tiles + 1);
      for (int64_t t = 0; t < n_tiles; ++t) next[t] = ids + slots[k * n_tiles + t];
      const int64_t sink = n_tiles;
      next[sink] = sinks.data() + 8 * worker;
      const int64_t end = std::min(n_valid, (k + 1) * chunk);
      for (int64_t i = k * chunk; i < end; ++i) {
        if (i + kPrefetch < end) {
          __builtin_prefetch(spans.get() + static_cast<uint32_t>(order[i + kPrefetch]));
        }
        const int64_t gid = static_cast<uint32_t>(order[i]);
        const Span s = spans[gid];
        if (s.b < 0) {
          const int32_t mask = -1 - s.b;
          for (int j = 0; j < 4; ++j) {
            const int64_t t = (mask >> j) & 1 ? s.a + quad[j] : sink;
            *next[t] = gid;
            next[t] += t != sink;
          }
        } else {
          const int32_t* tiles = lists[gid / kIndexChunk].data.data() + s.a;
          for (int32_t j = 0; j < s.b; ++j) *next[tiles[j]]++ = gid;
        }
      }
    });
  });
  return {gaussian_ids, tile_starts, tile_counts};
}

}  // namespace splat3d
