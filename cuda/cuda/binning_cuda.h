// Launchers of the CUDA tile-binning kernels, on raw pointers so they compile without torch.
// The sort between the two passes is done by the caller (binning_launch.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "splat3d/binning_math.h"

namespace splat3d {

// counts[i] = number of tiles Gaussian i (of C*N, flattened) reaches; 0 when invalid.
template <typename T>
void launch_count_tiles(const T* means2d, const T* conics, const T* opacities, const T* extents,
                        const bool* valid, int64_t n, const TileGrid& grid, int64_t* counts,
                        cudaStream_t stream);

// Writes Gaussian i's pairs at [offsets[i] - counts[i], offsets[i]) (offsets = inclusive
// prefix sum of counts): keys (camera tile << 32 | depth key), ids = i.
template <typename T>
void launch_write_pairs(const T* means2d, const T* conics, const T* opacities, const T* extents,
                        const T* depths, const bool* valid, int64_t n, int64_t N,
                        const TileGrid& grid, const int64_t* offsets, int64_t* keys,
                        int64_t* ids, cudaStream_t stream);

}  // namespace splat3d
