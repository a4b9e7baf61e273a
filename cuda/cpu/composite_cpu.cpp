// Tile compositing on the CPU: forward and hand-written backward.
//
// Algorithm: the tile-based front-to-back alpha blending of 3D Gaussian Splatting (Kerbl et
// al., 2023), with gsplat v1.5's stopping rules (see raster_math.h). Work is split per 16x16
// tile; threads take tiles from a shared counter so that busy central tiles do not serialise.
// Within a tile the loop runs over the depth-sorted Gaussians, and for each Gaussian over
// the rows of the tile its opacity-aware extent box reaches, 16 pixels at a time so the
// compiler vectorises across pixels. A tile stops as soon as all its pixels have stopped.
//
// The backward pass recomputes the blend front to back (like the PyTorch reference in
// splat3d/raster/composite.py) using the saved per-pixel count of visited Gaussians; the
// blend weight of everything behind Gaussian i is the pixel total minus a running prefix.
// Per-Gaussian gradients are summed over a tile's pixels in registers and added to a
// per-worker buffer; buffers are reduced once at the end, so there are no data races.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "../raster_ops.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr int kGradSlots = 6;  // mean x, mean y, conic a, b, c, opacity

struct Geometry {
  int64_t C, N, F, width, height, tiles_x, tiles_y;
};

Geometry geometry(const at::Tensor& features, int64_t width, int64_t height) {
  return {features.size(0), features.size(1), features.size(2), width, height,
          (width + kTile - 1) / kTile, (height + kTile - 1) / kTile};
}

// Rows [r0, r1] of the tile at pixel origin y0 that the Gaussian's (padded) extent box
// reaches; the same padding as splat3d/raster/binning.py, so skipped rows have alpha < 1/255.
template <typename T>
inline bool row_span(T mean, T extent, int64_t origin, int* r0, int* r1) {
  const T r = extent * T(1.0001) + T(1e-3);
  const T lo = std::ceil(mean - r - T(0.5) - T(origin));
  const T hi = std::floor(mean + r - T(0.5) - T(origin));
  if (!(lo <= T(kTile - 1)) || !(hi >= T(0))) return false;
  *r0 = lo < T(0) ? 0 : static_cast<int>(lo);
  *r1 = hi > T(kTile - 1) ? kTile - 1 : static_cast<int>(hi);
  return true;
}

// Calls work(worker, tile) for every tile, each worker taking the next tile from a shared
// counter; worker ids index per-worker scratch and are never used by two threads at once.
template <typename Work>
void for_each_tile(int64_t n_tiles, int n_workers, const Work& work) {
  std::atomic<int64_t> next{0};
  at::parallel_for(0, n_workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      for (int64_t t = next.fetch_add(1); t < n_tiles; t = next.fetch_add(1)) {
        work(static_cast<int>(w), t);
      }
    }
  });
}

template <typename T>
struct Inputs {
  const T* means2d;
  const T* conics;
  const T* opacities;
  const T* features;
  const T* extents;
  const int64_t* ids;
  const int64_t* starts;
  const int64_t* counts;
};

template <typename T>
Inputs<T> inputs(const at::Tensor& means2d, const at::Tensor& conics,
                 const at::Tensor& opacities, const at::Tensor& features,
                 const at::Tensor& extents, const at::Tensor& ids, const at::Tensor& starts,
                 const at::Tensor& counts) {
  return {means2d.data_ptr<T>(), conics.data_ptr<T>(), opacities.data_ptr<T>(),
          features.data_ptr<T>(), extents.data_ptr<T>(), ids.data_ptr<int64_t>(),
          starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>()};
}

template <typename T>
void forward_tile(const Inputs<T>& in, const Geometry& g, int64_t tile, T* scratch, T* fsum,
                  T* trans_out, int32_t* last_out) {
  const int64_t per_cam = g.tiles_x * g.tiles_y;
  const int64_t cam = tile / per_cam, tx = tile % per_cam % g.tiles_x,
                ty = tile % per_cam / g.tiles_x;
  const int64_t x0 = tx * kTile, y0 = ty * kTile;
  const int64_t F = g.F;
  T* trans = scratch;                        // [256]
  T* done = trans + kTilePixels;             // [256] 1 once a pixel has stopped
  T* weight = done + kTilePixels;            // [16] alpha_i T_i of the current row
  T* acc = weight + kTile;                   // [F, 256]
  int32_t last[kTilePixels];
  int row_live[kTile];
  int live = 0;
  for (int r = 0; r < kTile; ++r) {
    row_live[r] = 0;
    for (int q = 0; q < kTile; ++q) {
      const bool inside = y0 + r < g.height && x0 + q < g.width;
      trans[r * kTile + q] = T(1);
      done[r * kTile + q] = inside ? T(0) : T(1);
      last[r * kTile + q] = 0;
      row_live[r] += inside;
    }
    live += row_live[r];
  }
  std::fill(acc, acc + F * kTilePixels, T(0));

  const int64_t start = in.starts[tile], count = in.counts[tile];
  for (int64_t k = 0; k < count && live > 0; ++k) {
    const int64_t gid = in.ids[start + k];
    const T mx = in.means2d[2 * gid], my = in.means2d[2 * gid + 1];
    int r0, r1;
    if (!row_span(my, in.extents[2 * gid + 1], y0, &r0, &r1)) continue;
    const T a = in.conics[3 * gid], b = in.conics[3 * gid + 1], c = in.conics[3 * gid + 2];
    const T o = in.opacities[gid];
    const T* f = in.features + gid * F;
    const int32_t taken = static_cast<int32_t>(k + 1);
    for (int r = r0; r <= r1; ++r) {
      if (row_live[r] == 0) continue;
      const T dy = T(y0 + r) + T(0.5) - my;
      T* tr = trans + r * kTile;
      T* dn = done + r * kTile;
      int32_t* ls = last + r * kTile;
      int stops = 0;
#pragma omp simd reduction(+ : stops)
      for (int q = 0; q < kTile; ++q) {
        const T dx = T(x0 + q) + T(0.5) - mx;
        const T alpha = falloff_alpha(dx, dy, a, b, c, o);
        const T t = tr[q];
        const T next = t * (T(1) - alpha);
        const bool open = dn[q] == T(0) && alpha >= Consts<T>::alpha_min;
        const bool stop = open && next <= Consts<T>::t_stop;
        const bool take = open && !stop;
        weight[q] = take ? alpha * t : T(0);
        tr[q] = take ? next : t;
        dn[q] = stop ? T(1) : dn[q];
        ls[q] = take ? taken : ls[q];
        stops += stop ? 1 : 0;
      }
      for (int64_t ch = 0; ch < F; ++ch) {
        T* ac = acc + ch * kTilePixels + r * kTile;
        const T fc = f[ch];
#pragma omp simd
        for (int q = 0; q < kTile; ++q) ac[q] += weight[q] * fc;
      }
      row_live[r] -= stops;
      live -= stops;
    }
  }

  for (int r = 0; r < kTile && y0 + r < g.height; ++r) {
    for (int q = 0; q < kTile && x0 + q < g.width; ++q) {
      const int64_t pix = (cam * g.height + y0 + r) * g.width + x0 + q;
      trans_out[pix] = trans[r * kTile + q];
      last_out[pix] = last[r * kTile + q];
      for (int64_t ch = 0; ch < F; ++ch) fsum[pix * F + ch] = acc[ch * kTilePixels + r * kTile + q];
    }
  }
}

template <typename T>
void backward_tile(const Inputs<T>& in, const Geometry& g, int64_t tile, const T* fsum,
                   const T* trans_final, const int32_t* last_in, const T* grad_fsum,
                   const T* grad_trans, T* scratch, T* grads) {
  const int64_t per_cam = g.tiles_x * g.tiles_y;
  const int64_t cam = tile / per_cam, tx = tile % per_cam % g.tiles_x,
                ty = tile % per_cam / g.tiles_x;
  const int64_t x0 = tx * kTile, y0 = ty * kTile;
  const int64_t F = g.F, slots = kGradSlots + F;
  T* trans = scratch;               // [256] running transmittance
  T* rest = trans + kTilePixels;    // [256] Σ_{j>i} w_j f_j·g + T_final dL/dT_final
  T* fdotg = rest + kTilePixels;    // [16] f_i·g of the current row
  T* weight = fdotg + kTile;        // [16]
  T* gfeat = weight + kTile;        // [F, 256] dL/dfsum, tile-local
  T* acc = gfeat + F * kTilePixels; // [slots] this Gaussian's gradient over the tile
  int32_t last[kTilePixels];
  int32_t row_last[kTile];
  int32_t tile_last = 0;
  for (int r = 0; r < kTile; ++r) {
    row_last[r] = 0;
    for (int q = 0; q < kTile; ++q) {
      const int p = r * kTile + q;
      trans[p] = T(1);
      rest[p] = T(0);
      last[p] = 0;
      for (int64_t ch = 0; ch < F; ++ch) gfeat[ch * kTilePixels + p] = T(0);
      if (y0 + r >= g.height || x0 + q >= g.width) continue;
      const int64_t pix = (cam * g.height + y0 + r) * g.width + x0 + q;
      T k_total = grad_trans[pix] * trans_final[pix];
      for (int64_t ch = 0; ch < F; ++ch) {
        gfeat[ch * kTilePixels + p] = grad_fsum[pix * F + ch];
        k_total += grad_fsum[pix * F + ch] * fsum[pix * F + ch];
      }
      rest[p] = k_total;
      last[p] = last_in[pix];
      row_last[r] = std::max(row_last[r], last[p]);
    }
    tile_last = std::max(tile_last, row_last[r]);
  }

  const int64_t start = in.starts[tile];
  for (int64_t k = 0; k < tile_last; ++k) {
    const int64_t gid = in.ids[start + k];
    const T mx = in.means2d[2 * gid], my = in.means2d[2 * gid + 1];
    int r0, r1;
    if (!row_span(my, in.extents[2 * gid + 1], y0, &r0, &r1)) continue;
    const T a = in.conics[3 * gid], b = in.conics[3 * gid + 1], c = in.conics[3 * gid + 2];
    const T o = in.opacities[gid];
    const T* f = in.features + gid * F;
    std::fill(acc, acc + slots, T(0));
    bool touched = false;
    for (int r = r0; r <= r1; ++r) {
      if (row_last[r] <= k) continue;
      touched = true;
      const T dy = T(y0 + r) + T(0.5) - my;
      const int p0 = r * kTile;
      for (int q = 0; q < kTile; ++q) fdotg[q] = T(0);
      for (int64_t ch = 0; ch < F; ++ch) {
        const T* gc = gfeat + ch * kTilePixels + p0;
        const T fc = f[ch];
#pragma omp simd
        for (int q = 0; q < kTile; ++q) fdotg[q] += fc * gc[q];
      }
      T s_mx = 0, s_my = 0, s_xx = 0, s_xy = 0, s_yy = 0, s_g = 0;
#pragma omp simd reduction(+ : s_mx, s_my, s_xx, s_xy, s_yy, s_g)
      for (int q = 0; q < kTile; ++q) {
        const int p = p0 + q;
        const T dx = T(x0 + q) + T(0.5) - mx;
        const T alpha = falloff_alpha(dx, dy, a, b, c, o);
        const bool take = k < last[p] && alpha >= Consts<T>::alpha_min;
        const T t = trans[p];
        const T w = take ? alpha * t : T(0);
        const T wg = w * fdotg[q];
        const T behind = rest[p] - wg;
        rest[p] = behind;
        const T one_minus = T(1) - alpha;
        // dL/dpower = alpha dL/dalpha = w f·g - alpha (Σ behind) / (1 - alpha); zero where
        // alpha was clamped at 0.999 or skipped
        const T d_power =
            take && alpha < Consts<T>::alpha_max ? wg - alpha * behind / one_minus : T(0);
        trans[p] = take ? t * one_minus : t;
        weight[q] = w;
        falloff_grad(dx, dy, a, b, c, d_power, s_mx, s_my, s_xx, s_xy, s_yy, s_g);
      }
      falloff_grad_finish(FalloffMoments<T>{s_mx, s_my, s_xx, s_xy, s_yy, s_g}, o, acc);
      for (int64_t ch = 0; ch < F; ++ch) {
        const T* gc = gfeat + ch * kTilePixels + p0;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int q = 0; q < kTile; ++q) s += weight[q] * gc[q];
        acc[kGradSlots + ch] += s;
      }
    }
    if (touched) {
      T* dst = grads + gid * slots;
      for (int64_t j = 0; j < slots; ++j) dst[j] += acc[j];
    }
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

int workers() { return std::max(1, at::get_num_threads()); }

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_forward_cpu(
    const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& opacities,
    const at::Tensor& features, const at::Tensor& extents, const at::Tensor& gaussian_ids,
    const at::Tensor& tile_starts, const at::Tensor& tile_counts, int64_t width,
    int64_t height) {
  check_inputs(means2d, conics, opacities, features, extents, gaussian_ids, tile_starts,
               tile_counts);
  const Geometry g = geometry(features, width, height);
  auto fsum = at::zeros({g.C, height, width, g.F}, features.options());
  auto trans = at::ones({g.C, height, width}, features.options());
  auto last = at::zeros({g.C, height, width}, features.options().dtype(at::kInt));
  const int64_t n_tiles = tile_counts.numel();
  const int n_workers = workers();
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "composite_forward_cpu", [&] {
    const auto in = inputs<scalar_t>(means2d, conics, opacities, features, extents,
                                     gaussian_ids, tile_starts, tile_counts);
    const int64_t per_worker = 2 * kTilePixels + kTile + g.F * kTilePixels;
    std::vector<scalar_t> scratch(per_worker * n_workers);
    scalar_t* fs = fsum.data_ptr<scalar_t>();
    scalar_t* tr = trans.data_ptr<scalar_t>();
    int32_t* ls = last.data_ptr<int32_t>();
    for_each_tile(n_tiles, n_workers, [&](int w, int64_t tile) {
      forward_tile(in, g, tile, scratch.data() + w * per_worker, fs, tr, ls);
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
  const int n_workers = workers();
  // one gradient buffer per worker: [workers, C*N, 6+F], summed at the end
  auto buffers = at::zeros({n_workers, g.C * g.N, slots}, features.options());
  AT_DISPATCH_FLOATING_TYPES(dtype, "composite_backward_cpu", [&] {
    const auto in = inputs<scalar_t>(means2d, conics, opacities, features, extents,
                                     gaussian_ids, tile_starts, tile_counts);
    const int64_t per_worker = 2 * kTilePixels + 2 * kTile + g.F * kTilePixels + slots;
    std::vector<scalar_t> scratch(per_worker * n_workers);
    scalar_t* buf = buffers.data_ptr<scalar_t>();
    const int64_t buf_stride = g.C * g.N * slots;
    for_each_tile(n_tiles, n_workers, [&](int w, int64_t tile) {
      backward_tile(in, g, tile, fsum.data_ptr<scalar_t>(), trans.data_ptr<scalar_t>(),
                    last.data_ptr<int32_t>(), grad_fsum.data_ptr<scalar_t>(),
                    grad_trans.data_ptr<scalar_t>(), scratch.data() + w * per_worker,
                    buf + w * buf_stride);
    });
  });
  auto total = buffers.sum(0).reshape({g.C, g.N, slots});  // [C,N,6+F]
  return {total.slice(2, 0, 2).contiguous(), total.slice(2, 2, 5).contiguous(),
          total.select(2, 5).contiguous(), total.slice(2, kGradSlots).contiguous()};
}

}  // namespace splat3d
