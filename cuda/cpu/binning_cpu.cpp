// Tile binning on the CPU: (tile, Gaussian) pairs sorted by tile, then front to back.
//
// A Gaussian is listed in a tile when its alpha >= 1/255 ellipse {d : dᵀ Q d <= 2 ln(255 o)}
// reaches the rectangle spanned by the tile's pixel centres (exact ellipse-rectangle test,
// raster_math.h), padded slightly so float rounding never drops a contributing pair. The
// candidate tiles are those of splat3d/raster/binning.py's conservative extent box, so the
// result is a subset of the PyTorch backend's pairs that renders identically.
//
// Layout: the valid Gaussians of each camera are first put in depth order (LSD radix sort of
// the float32 depth, as the PyTorch binning's sort key, ties by index); then a parallel
// counting sort by tile: each worker histograms the tiles of a contiguous range of that
// order, prefix sums give every (worker, tile) its output slot, and the workers fill their
// slots in order, so every tile's list comes out front to back without a per-tile sort.
#include <ATen/Parallel.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../raster_ops.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr double kLevelPad = 1e-3;  // relative and absolute slack on the ellipse level

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
                 const bool* valid, const BinView& v, int64_t gid, const Visit& visit) {
  if (!valid[gid]) return;
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
  const int64_t cam = gid / v.N;
  for (int64_t ty = int64_t(lo_y); ty <= int64_t(hi_y); ++ty) {
    const double y0 = ty * kTile + 0.5;
    const double y1 = std::min(double(ty * kTile + kTile - 1), double(v.height - 1)) + 0.5;
    for (int64_t tx = int64_t(lo_x); tx <= int64_t(hi_x); ++tx) {
      const double x0 = tx * kTile + 0.5;
      const double x1 = std::min(double(tx * kTile + kTile - 1), double(v.width - 1)) + 0.5;
      if (ellipse_touches_rect(mx, my, a, b, c, level, x0, x1, y0, y1)) {
        visit((cam * v.tiles_y + ty) * v.tiles_x + tx);
      }
    }
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
  const int64_t n_workers = std::max(1, at::get_num_threads());
  auto tile_counts = at::zeros({n_tiles}, depths.options().dtype(at::kLong));
  auto tile_starts = at::zeros({n_tiles}, depths.options().dtype(at::kLong));
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
    const int64_t chunk = (n_valid + n_workers - 1) / n_workers;
    // slots[w * n_tiles + t]: pairs of worker w in tile t, then where worker w writes them;
    // tiles[w]: the tiles of worker w's Gaussians, in order
    std::vector<int64_t> slots(n_workers * n_tiles, 0);
    std::vector<std::vector<int64_t>> tiles(n_workers);
    std::vector<int32_t> n_touched(n_valid, 0);
    at::parallel_for(0, n_workers, 1, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        int64_t* hist = slots.data() + w * n_tiles;
        for (int64_t i = w * chunk; i < std::min(n_valid, (w + 1) * chunk); ++i) {
          visit_tiles(m, q, o, e, ok, v, order[i], [&](int64_t t) {
            ++hist[t];
            ++n_touched[i];
            tiles[w].push_back(t);
          });
        }
      }
    });
    int64_t* counts = tile_counts.data_ptr<int64_t>();
    int64_t* starts = tile_starts.data_ptr<int64_t>();
    int64_t running = 0;
    for (int64_t t = 0; t < n_tiles; ++t) {
      starts[t] = running;
      for (int64_t w = 0; w < n_workers; ++w) {
        const int64_t n = slots[w * n_tiles + t];
        slots[w * n_tiles + t] = running;
        running += n;
      }
      counts[t] = running - starts[t];
    }
    gaussian_ids = at::empty({running}, depths.options().dtype(at::kLong));
    int64_t* ids = gaussian_ids.data_ptr<int64_t>();
    at::parallel_for(0, n_workers, 1, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        int64_t* next = slots.data() + w * n_tiles;
        const int64_t* tile = tiles[w].data();
        for (int64_t i = w * chunk; i < std::min(n_valid, (w + 1) * chunk); ++i) {
          for (int32_t j = 0; j < n_touched[i]; ++j) ids[next[*tile++]++] = order[i];
        }
      }
    });
  });
  return {gaussian_ids, tile_starts, tile_counts};
}

}  // namespace splat3d
