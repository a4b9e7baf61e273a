"""The pure-PyTorch rasterizer backend: projection -> tile binning -> compositing.

It runs wherever PyTorch runs (CPU or CUDA), is differentiable end to end, and is the
reference the fast backends are tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from splat3d.raster.binning import TILE, bin_gaussians
from splat3d.raster.composite import composite, falloff_coefficients, tile_plan
from splat3d.raster.malloc import tune_malloc
from splat3d.raster.projection import Projection


def render_projection(
    proj: Projection, width: int, height: int, background: Tensor
) -> tuple[Tensor, Tensor]:
    """Composite projected Gaussians (with camera depth appended to the features).

    Returns ``features [C,H,W,D+1]`` (background added to the first D channels, the last
    channel is the alpha-weighted depth sum) and ``alpha [C,H,W,1]``.
    """
    if proj.depths.device.type == "cpu":
        tune_malloc()
    C, N = proj.depths.shape
    bins = bin_gaussians(proj.means2d, proj.extents, proj.depths, proj.valid, width, height)
    plan = tile_plan(bins, C, width, height)
    gid = bins.gaussian_ids
    tiles_per_cam = bins.tiles_x * bins.tiles_y
    local = bins.tile_ids % tiles_per_cam
    centers = torch.stack([(local % bins.tiles_x) * TILE + TILE / 2,
                           (local // bins.tiles_x) * TILE + TILE / 2], -1).to(proj.means2d.dtype)
    coef = falloff_coefficients(proj.means2d.reshape(-1, 2)[gid], proj.conics.reshape(-1, 3)[gid],
                                proj.opacities.reshape(-1)[gid], centers)
    D = proj.colors.shape[-1]
    feat = torch.cat([proj.colors, proj.depths[..., None]], -1).reshape(C * N, D + 1)[gid]
    fsum, trans = composite(coef, feat, plan)  # [NT,256,D+1], [NT,256]

    bg = torch.cat([background, background.new_zeros(C, 1)], -1)  # no background for depth
    trans = trans.reshape(C, -1, TILE * TILE, 1)
    img = fsum.reshape(C, -1, TILE * TILE, D + 1) + trans * bg[:, None, None]
    img = _untile(img, bins.tiles_x, bins.tiles_y)[:, :height, :width]
    alpha = 1.0 - _untile(trans, bins.tiles_x, bins.tiles_y)
    return img, alpha[:, :height, :width]


def _untile(x: Tensor, tiles_x: int, tiles_y: int) -> Tensor:
    """[C, TY*TX, 256, D] -> [C, TY*16, TX*16, D]."""
    C, _, _, D = x.shape
    x = x.reshape(C, tiles_y, tiles_x, TILE, TILE, D).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(C, tiles_y * TILE, tiles_x * TILE, D)
