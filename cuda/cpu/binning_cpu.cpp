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
// Layout: the valid Gaussians of each camera are first put in depth order (LSD radix sort of
// the float32 depth, as the PyTorch binning's sort key, ties by index); then a parallel
// counting sort by tile over fixed chunks of that order (the split does not depend on the
// thread count): each chunk histograms its tiles, prefix sums give every (tile, chunk) its
// output slot, and the chunks fill their slots in order, so every tile's list comes out
// front to back without a per-tile sort.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../raster_ops.h"
#include "parallel.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr double kLevelPad = 1e-3;  // relative and absolute slack on the ellipse level
constexpr int64_t kChunk = 2048;     // Gaussians per binning chunk (at most kMaxChunks)
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kPrefetch = 8;     // inputs are prefetched this many Gaussians ahead

// Order-preserving map of a float's bits to an unsigned key.
inline uint32_t depth_key(float z) {
  uint32_t bits;
  std::memcpy(&bits, &z, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

// Stable LSD radix sort of ``items`` by ``keys`` (8 bits per pass).
void radix_sort(std::vector<uint32_t>& keys, std::vector<int64_t>& items) {
  std::vector<uint32_t> keys_tmp(keys.size());
  std::vector<int64_t> items_tmp(items.size());
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t offsets[257] = {0};
    for (uint32_t k : keys) ++offsets[((k >> shift) & 0xff) + 1];
    if (!keys.empty() && offsets[((keys[0] >> shift) & 0xff) + 1] == int64_t(keys.size())) {
      continue;  // every key has the same byte here: the pass would not move anything
    }
    for (int i = 0; i < 256; ++i) offsets[i + 1] += offsets[i];
    for (size_t i = 0; i < keys.size(); ++i) {
      const int64_t dst = offsets[(keys[i] >> shift) & 0xff]++;
      keys_tmp[dst] = keys[i];
      items_tmp[dst] = items[i];
    }
    keys.swap(keys_tmp);
    items.swap(items_tmp);
  }
}

struct BinView {
  int64_t C, N, width, height, tiles_x, tiles_y;
};

// Calls visit(tile) for every tile Gaussian ``gid`` reaches.
template <typename T, typename Visit>
void visit_tiles(const T* means2d, const T* conics, const T* opacities, const T* extents,
                 const BinView& v, int64_t gid, const Visit& visit) {
  const double mx = means2d[2 * gid], my = means2d[2 * gid + 1];
  const double ex = double(extents[2 * gid]) * 1.0001 + 1e-3;
  const double ey = double(extents[2 * gid + 1]) * 1.0001 + 1e-3;
  // tile t holds pixel centres [16 t + 0.5, 16 t + 15.5] (binning.py's box rule)
  const double lo_x = std::max(0.0, std::ceil((mx - ex - (kTile - 0.5)) / kTile));
  const double lo_y = std::max(0.0, std::ceil((my - ey - (kTile - 0.5)) / kTile));
  const double hi_x = std::min(double(v.tiles_x - 1), std::floor((mx + ex - 0.5) / kTile));
  const double hi_y = std::min(double(v.tiles_y - 1), std::floor((my + ey - 0.5) / kTile));
  if (!(lo_x <= hi_x && lo_y <= hi_y)) return;
  const double a = conics[3 * gid], b = conics[3 * gid + 1], c = conics[3 * gid + 2];
  const double o = std::max(double(opacities[gid]), 1.0 / 255.0);
  const double level = 2.0 * std::log(255.0 * o) * (1.0 + kLevelPad) + kLevelPad;
  const double det = a * c - b * b;
  const int64_t row0 = (gid / v.N) * v.tiles_y;
  if (!(det > 0 && a > 0 && c > 0 && level > 0 && std::isfinite(det * level))) {
    for (int64_t ty = int64_t(lo_y); ty <= int64_t(hi_y); ++ty) {  // box only
      for (int64_t tx = int64_t(lo_x); tx <= int64_t(hi_x); ++tx) {
        visit((row0 + ty) * v.tiles_x + tx);
      }
    }
    return;
  }
  const double inv_a = 1.0 / a, a_level = a * level;
  const double half_y = std::sqrt(level * a / det);      // y half-extent of the ellipse
  const double dy_left = b * std::sqrt(level / (c * det));  // dy of its leftmost point
  // left and right boundary at offset dy (|dy| <= half_y)
  const auto boundary = [&](double dy, double side) {
    return mx + (-b * dy + side * std::sqrt(std::max(0.0, a_level - det * dy * dy))) * inv_a;
  };
  const double x_last = double(v.width) - 0.5;  // last pixel centre
  for (int64_t ty = int64_t(lo_y); ty <= int64_t(hi_y); ++ty) {
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
    for (int64_t tx = t0; tx <= t1; ++tx) visit((row0 + ty) * v.tiles_x + tx);
  }
}

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
  TORCH_CHECK(n_tiles < (int64_t(1) << 31), "splat3d native binning: too many tiles");
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
    // valid Gaussians, camera by camera, each camera's front to back
    std::vector<int64_t> order;
    std::vector<uint32_t> keys;
    std::vector<int64_t> cam_order;
    for (int64_t c = 0; c < v.C; ++c) {
      keys.clear();
      cam_order.clear();
      for (int64_t gid = c * v.N; gid < (c + 1) * v.N; ++gid) {
        if (!ok[gid]) continue;
        keys.push_back(depth_key(static_cast<float>(z[gid])));
        cam_order.push_back(gid);
      }
      radix_sort(keys, cam_order);
      order.insert(order.end(), cam_order.begin(), cam_order.end());
    }
    const int64_t n_valid = static_cast<int64_t>(order.size());
    const int64_t n_chunks = std::min<int64_t>(kMaxChunks, (n_valid + kChunk - 1) / kChunk);
    const int64_t chunk = n_chunks > 0 ? (n_valid + n_chunks - 1) / n_chunks : 0;
    // slots[k * n_tiles + t]: pairs of chunk k in tile t, then where chunk k writes them;
    // tiles[k]: the tiles of chunk k's Gaussians, in order; n_touched[i]: how many
    std::vector<int64_t> slots(n_chunks * n_tiles, 0);
    std::vector<std::vector<int32_t>> tiles(n_chunks);
    std::vector<int32_t> n_touched(n_valid, 0);
    for_each_chunk(n_chunks, [&](int, int64_t k) {
      int64_t* hist = slots.data() + k * n_tiles;
      std::vector<int32_t>& mine = tiles[k];
      mine.reserve(4 * chunk);
      const int64_t end = std::min(n_valid, (k + 1) * chunk);
      for (int64_t i = k * chunk; i < end; ++i) {
        if (i + kPrefetch < end) {  // depth order visits the inputs at random
          const int64_t ahead = order[i + kPrefetch];
          __builtin_prefetch(m + 2 * ahead);
          __builtin_prefetch(q + 3 * ahead);
          __builtin_prefetch(o + ahead);
          __builtin_prefetch(e + 2 * ahead);
        }
        const size_t before = mine.size();
        visit_tiles(m, q, o, e, v, order[i], [&](int64_t t) {
          ++hist[t];
          mine.push_back(static_cast<int32_t>(t));
        });
        n_touched[i] = static_cast<int32_t>(mine.size() - before);
      }
    });
    int64_t* counts = tile_counts.data_ptr<int64_t>();
    int64_t* starts = tile_starts.data_ptr<int64_t>();
    int64_t running = 0;
    for (int64_t t = 0; t < n_tiles; ++t) {
      starts[t] = running;
      for (int64_t k = 0; k < n_chunks; ++k) {
        const int64_t n = slots[k * n_tiles + t];
        slots[k * n_tiles + t] = running;
        running += n;
      }
      counts[t] = running - starts[t];
    }
    gaussian_ids = at::empty({running}, depths.options().dtype(at::kLong));
    int64_t* ids = gaussian_ids.data_ptr<int64_t>();
    for_each_chunk(n_chunks, [&](int, int64_t k) {
      int64_t* next = slots.data() + k * n_tiles;
      const int32_t* tile = tiles[k].data();
      for (int64_t i = k * chunk; i < std::min(n_valid, (k + 1) * chunk); ++i) {
        for (int32_t j = 0; j < n_touched[i]; ++j) ids[next[*tile++]++] = order[i];
      }
    });
  });
  return {gaussian_ids, tile_starts, tile_counts};
}

}  // namespace splat3d
