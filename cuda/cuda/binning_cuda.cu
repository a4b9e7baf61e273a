// Tile binning on CUDA: one thread per (camera, Gaussian) counts its tiles with the exact
// test of binning_math.h, then, after a prefix sum, writes its (tile, depth) keys in index
// order; a stable sort of the keys (binning_launch.cu) gives every tile's list front to back,
// ties by index: the same lists as the CPU binning (checked on the CPU through
// bin_gaussians_reference, which runs this algorithm serially).
#include <cuda_runtime.h>

#include "binning_cuda.h"

namespace splat3d {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void count_tiles_kernel(const T* means2d, const T* conics, const T* opacities,
                                   const T* extents, const bool* valid, int64_t n,
                                   TileGrid grid, int64_t* counts) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  counts[i] = valid[i] ? visit_gaussian_tiles(means2d[2 * i], means2d[2 * i + 1], conics[3 * i],
                                              conics[3 * i + 1], conics[3 * i + 2], opacities[i],
                                              extents[2 * i], extents[2 * i + 1], grid,
                                              [](int64_t, int64_t) {})
                       : 0;
}

template <typename T>
__global__ void write_pairs_kernel(const T* means2d, const T* conics, const T* opacities,
                                   const T* extents, const T* depths, const bool* valid,
                                   int64_t n, int64_t N, TileGrid grid, const int64_t* offsets,
                                   int64_t* keys, int64_t* ids) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n || !valid[i]) return;
  int64_t slot = i > 0 ? offsets[i - 1] : 0;
  const uint64_t depth = depth_sort_key(static_cast<float>(depths[i]));
  const int64_t cam_tiles = (i / N) * grid.tiles_x * grid.tiles_y;
  visit_gaussian_tiles(means2d[2 * i], means2d[2 * i + 1], conics[3 * i], conics[3 * i + 1],
                       conics[3 * i + 2], opacities[i], extents[2 * i], extents[2 * i + 1],
                       grid, [&](int64_t tx, int64_t ty) {
                         const uint64_t tile = cam_tiles + ty * grid.tiles_x + tx;
                         keys[slot] = static_cast<int64_t>(tile << 32 | depth);
                         ids[slot] = i;
                         ++slot;
                       });
}

unsigned blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

template <typename T>
void launch_count_tiles(const T* means2d, const T* conics, const T* opacities, const T* extents,
                        const bool* valid, int64_t n, const TileGrid& grid, int64_t* counts,
                        cudaStream_t stream) {
  if (n == 0) return;
  count_tiles_kernel<T><<<blocks(n), kThreads, 0, stream>>>(means2d, conics, opacities, extents,
                                                            valid, n, grid, counts);
}

template <typename T>
void launch_write_pairs(const T* means2d, const T* conics, const T* opacities, const T* extents,
                        const T* depths, const bool* valid, int64_t n, int64_t N,
                        const TileGrid& grid, const int64_t* offsets, int64_t* keys,
                        int64_t* ids, cudaStream_t stream) {
  if (n == 0) return;
  write_pairs_kernel<T><<<blocks(n), kThreads, 0, stream>>>(
      means2d, conics, opacities, extents, depths, valid, n, N, grid, offsets, keys, ids);
}

#define SPLAT3D_INSTANTIATE(T)                                                                \
  template void launch_count_tiles<T>(const T*, const T*, const T*, const T*, const bool*,    \
                                      int64_t, const TileGrid&, int64_t*, cudaStream_t);      \
  template void launch_write_pairs<T>(const T*, const T*, const T*, const T*, const T*,       \
                                      const bool*, int64_t, int64_t, const TileGrid&,         \
                                      const int64_t*, int64_t*, int64_t*, cudaStream_t);
SPLAT3D_INSTANTIATE(float)
SPLAT3D_INSTANTIATE(double)
#undef SPLAT3D_INSTANTIATE

}  // namespace splat3d
