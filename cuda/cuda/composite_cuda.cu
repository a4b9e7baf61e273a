// Tile compositing on CUDA, forward and backward: the same operation as
// cpu/composite_cpu.cpp, organised the GPU way (as in gsplat's rasterize_to_pixels kernels,
// written independently): one 16x16 thread block per tile, one thread per pixel, the tile's
// depth-sorted Gaussians staged through shared memory in batches of 256, and a block leaves
// its list once every pixel has stopped. The backward pass recomputes the blend front to
// back per pixel (same formulas as the CPU backward), reduces each Gaussian's gradient over
// a warp with shuffles, and adds it to global memory with one atomic per warp and slot.
#include <cuda_runtime.h>

#include "composite_cuda.h"
#include "splat3d/raster_math.h"

namespace splat3d {
namespace {

constexpr int kGradSlots = 6;
constexpr unsigned kFullMask = 0xffffffffu;

struct PixelIndex {
  int64_t cam, px, py, pix;
  bool inside;
};

__device__ PixelIndex pixel_index(const CudaTiles& tiles) {
  const int64_t tile = blockIdx.x, per_cam = tiles.tiles_x * tiles.tiles_y;
  PixelIndex p;
  p.cam = tile / per_cam;
  const int64_t local = tile % per_cam;
  p.px = (local % tiles.tiles_x) * kTile + threadIdx.x % kTile;
  p.py = (local / tiles.tiles_x) * kTile + threadIdx.x / kTile;
  p.inside = p.px < tiles.width && p.py < tiles.height;
  p.pix = (p.cam * tiles.height + p.py) * tiles.width + p.px;
  return p;
}

template <typename T>
struct SharedBatch {
  T mx[kTilePixels], my[kTilePixels], a[kTilePixels], b[kTilePixels], c[kTilePixels],
      o[kTilePixels];
  int64_t gid[kTilePixels];

  __device__ void load(int slot, int64_t g, const T* means2d, const T* conics,
                       const T* opacities) {
    gid[slot] = g;
    mx[slot] = means2d[2 * g];
    my[slot] = means2d[2 * g + 1];
    a[slot] = conics[3 * g];
    b[slot] = conics[3 * g + 1];
    c[slot] = conics[3 * g + 2];
    o[slot] = opacities[g];
  }
};

template <typename T>
__device__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
  return v;
}

template <typename T>
__global__ void composite_forward_kernel(const T* means2d, const T* conics, const T* opacities,
                                         const T* features, int64_t F, CudaTiles tiles, T* fsum,
                                         T* trans_out, int32_t* last_out) {
  __shared__ SharedBatch<T> batch;
  const PixelIndex p = pixel_index(tiles);
  const T px = T(p.px) + T(0.5), py = T(p.py) + T(0.5);
  T* out = p.inside ? fsum + p.pix * F : nullptr;
  bool done = !p.inside;
  T t = T(1);
  int32_t last = 0;
  const int64_t start = tiles.starts[blockIdx.x], count = tiles.counts[blockIdx.x];
  for (int64_t base = 0; base < count; base += kTilePixels) {
    // also the barrier that keeps the previous batch alive until everyone is done with it
    if (__syncthreads_count(done) == kTilePixels) break;
    if (base + threadIdx.x < count) {
      batch.load(threadIdx.x, tiles.ids[start + base + threadIdx.x], means2d, conics,
                 opacities);
    }
    __syncthreads();
    const int n = static_cast<int>(min(int64_t(kTilePixels), count - base));
    for (int j = 0; j < n && !done; ++j) {
      const T alpha = falloff_alpha(px - batch.mx[j], py - batch.my[j], batch.a[j], batch.b[j],
                                    batch.c[j], batch.o[j]);
      if (alpha < Consts<T>::alpha_min) continue;
      const T next = t * (T(1) - alpha);
      if (next <= Consts<T>::t_stop) {
        done = true;
        break;
      }
      const T w = alpha * t;
      const T* f = features + batch.gid[j] * F;
      for (int64_t ch = 0; ch < F; ++ch) out[ch] += w * f[ch];
      t = next;
      last = static_cast<int32_t>(base + j + 1);
    }
  }
  if (p.inside) {
    trans_out[p.pix] = t;
    last_out[p.pix] = last;
  }
}

template <typename T>
__global__ void composite_backward_kernel(const T* means2d, const T* conics, const T* opacities,
                                          const T* features, int64_t F, CudaTiles tiles,
                                          const T* fsum, const T* trans_final,
                                          const int32_t* last_in, const T* grad_fsum,
                                          const T* grad_trans, T* grads) {
  __shared__ SharedBatch<T> batch;
  __shared__ int32_t tile_last;
  const PixelIndex p = pixel_index(tiles);
  const T px = T(p.px) + T(0.5), py = T(p.py) + T(0.5);
  const T* g_pix = p.inside ? grad_fsum + p.pix * F : nullptr;
  int32_t last = 0;
  T rest = T(0);  // Σ_{j>i} w_j f_j·g + T_final dL/dT_final
  if (p.inside) {
    last = last_in[p.pix];
    rest = grad_trans[p.pix] * trans_final[p.pix];
    for (int64_t ch = 0; ch < F; ++ch) rest += g_pix[ch] * fsum[p.pix * F + ch];
  }
  if (threadIdx.x == 0) tile_last = 0;
  __syncthreads();
  atomicMax(&tile_last, last);
  __syncthreads();
  const int64_t start = tiles.starts[blockIdx.x], count = tile_last;
  T t = T(1);
  const int lane = threadIdx.x % 32;
  for (int64_t base = 0; base < count; base += kTilePixels) {
    __syncthreads();
    if (base + threadIdx.x < count) {
      batch.load(threadIdx.x, tiles.ids[start + base + threadIdx.x], means2d, conics,
                 opacities);
    }
    __syncthreads();
    const int n = static_cast<int>(min(int64_t(kTilePixels), count - base));
    for (int j = 0; j < n; ++j) {
      const T dx = px - batch.mx[j], dy = py - batch.my[j];
      const T a = batch.a[j], b = batch.b[j], c = batch.c[j], o = batch.o[j];
      T alpha = T(0);
      bool take = false;
      if (base + j < last) {
        alpha = falloff_alpha(dx, dy, a, b, c, o);
        take = alpha >= Consts<T>::alpha_min;
      }
      if (!__any_sync(kFullMask, take)) continue;
      const T* f = features + batch.gid[j] * F;
      T w = T(0), d_power = T(0);
      if (take) {
        T fg = T(0);
        for (int64_t ch = 0; ch < F; ++ch) fg += f[ch] * g_pix[ch];
        w = alpha * t;
        const T wg = w * fg;
        rest -= wg;
        const T one_minus = T(1) - alpha;
        d_power = alpha < Consts<T>::alpha_max ? wg - alpha * rest / one_minus : T(0);
        t *= one_minus;
      }
      FalloffMoments<T> m;
      falloff_grad(dx, dy, a, b, c, d_power, m.mx, m.my, m.xx, m.xy, m.yy, m.g);
      m.mx = warp_sum(m.mx);
      m.my = warp_sum(m.my);
      m.xx = warp_sum(m.xx);
      m.xy = warp_sum(m.xy);
      m.yy = warp_sum(m.yy);
      m.g = warp_sum(m.g);
      T* dst = grads + batch.gid[j] * (kGradSlots + F);
      if (lane == 0) {
        T acc[kGradSlots] = {0, 0, 0, 0, 0, 0};
        falloff_grad_finish(m, o, acc);
        for (int s = 0; s < kGradSlots; ++s) atomicAdd(dst + s, acc[s]);
      }
      for (int64_t ch = 0; ch < F; ++ch) {
        const T g_f = warp_sum(take ? w * g_pix[ch] : T(0));
        if (lane == 0) atomicAdd(dst + kGradSlots + ch, g_f);
      }
    }
  }
}

}  // namespace

template <typename T>
void launch_composite_forward(const T* means2d, const T* conics, const T* opacities,
                              const T* features, int64_t F, const CudaTiles& tiles, T* fsum,
                              T* trans, int32_t* last, cudaStream_t stream) {
  if (tiles.n_tiles == 0) return;
  composite_forward_kernel<T><<<tiles.n_tiles, kTilePixels, 0, stream>>>(
      means2d, conics, opacities, features, F, tiles, fsum, trans, last);
}

template <typename T>
void launch_composite_backward(const T* means2d, const T* conics, const T* opacities,
                               const T* features, int64_t F, const CudaTiles& tiles,
                               const T* fsum, const T* trans, const int32_t* last,
                               const T* grad_fsum, const T* grad_trans, T* grads,
                               cudaStream_t stream) {
  if (tiles.n_tiles == 0) return;
  composite_backward_kernel<T><<<tiles.n_tiles, kTilePixels, 0, stream>>>(
      means2d, conics, opacities, features, F, tiles, fsum, trans, last, grad_fsum, grad_trans,
      grads);
}

#define SPLAT3D_INSTANTIATE(T)                                                                  \
  template void launch_composite_forward<T>(const T*, const T*, const T*, const T*, int64_t,   \
                                            const CudaTiles&, T*, T*, int32_t*, cudaStream_t); \
  template void launch_composite_backward<T>(const T*, const T*, const T*, const T*, int64_t,  \
                                             const CudaTiles&, const T*, const T*,             \
                                             const int32_t*, const T*, const T*, T*,           \
                                             cudaStream_t);
SPLAT3D_INSTANTIATE(float)
SPLAT3D_INSTANTIATE(double)
#undef SPLAT3D_INSTANTIATE

}  // namespace splat3d
