"""Per-Gaussian features and their voxelisation onto a dense grid over the scene.

3DGS-DET (Cao et al., 2024) feeds the Gaussians' own parameters to the detector instead of a
point cloud's xyz + RGB: position, scale, rotation, colour and opacity. Here each Gaussian
gets the 14 numbers of :func:`gaussian_features`; :func:`voxelize` then averages them per
voxel (scatter-add, no Python loop over Gaussians) and appends height and occupancy, giving
the dense ``[C, X, Y, Z]`` tensor the convolutional backbone reads.

Dense rather than sparse voxels: FCAF3D (Rukhovich et al., 2022) runs on MinkowskiEngine
sparse convolutions; MinkowskiEngine 0.5.4 is a source-only package whose build failed on
this CPU machine (``pip download`` builds its metadata and stops). spconv 2.3.8 does ship a
CPU wheel for this Python, but it was not evaluated here; dense ``torch.nn.Conv3d`` keeps
the dependencies unchanged and runs on CPU and CUDA alike. Indoor rooms of a few metres at
a coarse voxel (10 cm by default) are small enough for dense 3D convolutions; the heads
still predict near occupied locations only, and the normalisation ignores empty voxels, so
the network behaves much like a sparse one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.gaussians import Gaussians
from splat3d.sh import sh_dc_to_rgb

GAUSSIAN_FEATURE_NAMES: tuple[str, ...] = (
    "x", "y", "z", "scale_x", "scale_y", "scale_z", "qw", "qx", "qy", "qz",
    "red", "green", "blue", "opacity",
)  # fmt: skip
"""Columns of :func:`gaussian_features`."""

VOXEL_CHANNELS = 16
"""Channels of :func:`voxelize`'s grid: 14 mean-pooled normalised features + height +
occupancy (see :func:`voxelize`)."""


def gaussian_features(g: Gaussians) -> Float[Tensor, "N 14"]:
    """Per-Gaussian features: xyz, activated scale, unit quaternion, RGB from SH DC, opacity.

    The quaternion is normalised and its sign fixed so that ``w >= 0`` (``q`` and ``-q`` are
    the same rotation); RGB is ``0.5 + C0 * dc`` clipped to ``[0, 1]``; opacity is the sigmoid
    of the logit.

    Example:
        >>> gaussian_features(Gaussians.random_box(5)).shape
        torch.Size([5, 14])
    """
    quats = torch.nn.functional.normalize(g.quats, dim=-1)
    quats = torch.where(quats[:, :1] < 0, -quats, quats)
    rgb = sh_dc_to_rgb(g.sh[:, 0]).clamp(0.0, 1.0)
    return torch.cat([g.means, g.scales, quats, rgb, g.opacities[:, None]], dim=1)


@dataclass(frozen=True)
class VoxelGrid:
    """A dense axis-aligned grid: voxel ``(i, j, k)`` covers
    ``origin + voxel_size * ([i, j, k], [i, j, k] + 1)``."""

    origin: tuple[float, float, float]
    """World position of the grid's minimum corner (metres)."""
    voxel_size: float
    """Edge length of a voxel (metres)."""
    shape: tuple[int, int, int]
    """Voxels along x, y, z."""

    def centers(self, stride: int = 1) -> Float[Tensor, "X Y Z 3"]:
        """World centres of the voxels of the grid coarsened ``stride`` times."""
        size = self.voxel_size * stride
        axes = [
            torch.arange(n // stride, dtype=torch.float32) * size + o + size / 2
            for n, o in zip(self.shape, self.origin, strict=True)
        ]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def scene_grid(
    means: Float[Tensor, "N 3"], voxel_size: float, multiple: int
) -> VoxelGrid:
    """The grid covering ``means``, its shape rounded up to a
    multiple of ``multiple`` (the backbone's total stride) and its origin snapped to the
    voxel lattice.

    Raises:
        ValueError: for no points, or a non-positive voxel size.
    """
    if means.shape[0] == 0:
        raise ValueError("cannot build a voxel grid over zero Gaussians")
    if voxel_size <= 0:
        raise ValueError(f"voxel_size must be > 0, got {voxel_size}")
    lo = means.min(dim=0).values.double()
    hi = means.max(dim=0).values.double()
    origin = torch.floor(lo / voxel_size) * voxel_size
    cells = torch.floor((hi - origin) / voxel_size).long() + 1
    cells = (cells + multiple - 1) // multiple * multiple
    return VoxelGrid(tuple(origin.tolist()), float(voxel_size), tuple(cells.tolist()))


def voxelize(g: Gaussians, grid: VoxelGrid, floor_z: float) -> Float[Tensor, "16 X Y Z"]:
    """Mean-pooled normalised Gaussian features per voxel, plus height and occupancy.

    Channels: offset of the Gaussian from its voxel centre in voxel units (3, in
    ``[-0.5, 0.5]``), ``log(scale / voxel_size) / 4`` (3), unit quaternion (4), RGB - 0.5 (3),
    opacity (1), height of the voxel centre above ``floor_z`` in metres (1; a cue for
    furniture classes that does not depend on where the room is), and occupancy
    ``log(1 + count)`` (1). Empty voxels are all zero, so padding the grid with empty space
    changes nothing. Gaussians outside the grid are dropped.

    Example:
        >>> g = Gaussians.random_box(100)
        >>> grid = scene_grid(g.means, 0.25, multiple=4)
        >>> voxelize(g, grid, floor_z=-1.0).shape[0]
        16
    """
    feats = gaussian_features(g)
    origin = torch.tensor(grid.origin, dtype=feats.dtype, device=feats.device)
    rel = (feats[:, :3] - origin) / grid.voxel_size  # [N, 3] in voxel units
    ijk = torch.floor(rel).long()
    shape = torch.tensor(grid.shape, device=feats.device)
    inside = ((ijk >= 0) & (ijk < shape)).all(dim=1)
    ijk, rel, feats = ijk[inside], rel[inside], feats[inside]
    normalised = torch.cat([
        rel - ijk - 0.5,
        torch.log(feats[:, 3:6].clamp_min(1e-8) / grid.voxel_size) / 4.0,
        feats[:, 6:10],
        feats[:, 10:13] - 0.5,
        feats[:, 13:14],
    ], dim=1)  # [N, 14]
    nx, ny, nz = grid.shape
    flat = (ijk[:, 0] * ny + ijk[:, 1]) * nz + ijk[:, 2]
    n_voxels = nx * ny * nz
    sums = normalised.new_zeros(n_voxels, normalised.shape[1]).index_add_(0, flat, normalised)
    ones = torch.ones_like(flat, dtype=normalised.dtype)
    counts = normalised.new_zeros(n_voxels).index_add_(0, flat, ones)
    means = sums / counts.clamp_min(1.0)[:, None]
    height = (grid.centers()[..., 2].reshape(-1).to(means) - floor_z) * (counts > 0)
    channels = torch.cat([means, height[:, None], torch.log1p(counts)[:, None]], dim=1)
    return channels.T.reshape(VOXEL_CHANNELS, nx, ny, nz)
