"""Tile binning: which Gaussians touch which 16x16 tile, in front-to-back order.

A Gaussian is listed in every tile whose pixel centres intersect the axis-aligned box of
its opacity-aware extent (the exact region where alpha >= 1/255), padded by a small
relative margin, so the rendered image never depends on the tiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

TILE = 16
"""Tile side in pixels."""


@dataclass
class TileBins:
    """Pairs (tile, Gaussian) sorted by tile, then by depth."""

    gaussian_ids: Int[Tensor, " P"]
    """Flattened ``c * N + n`` index of each pair's Gaussian."""
    tile_ids: Int[Tensor, " P"]
    """Global tile index ``c * TY * TX + ty * TX + tx`` of each pair."""
    tile_starts: Int[Tensor, " NT"]
    """First pair of each tile."""
    tile_counts: Int[Tensor, " NT"]
    """Number of pairs of each tile."""
    tiles_x: int
    tiles_y: int


def bin_gaussians(
    means2d: Float[Tensor, "C N 2"],
    extents: Float[Tensor, "C N 2"],
    depths: Float[Tensor, "C N"],
    valid: Tensor,
    width: int,
    height: int,
) -> TileBins:
    """Assign valid Gaussians to the tiles their extent box overlaps, depth-sorted per tile."""
    C, N = depths.shape
    tx_n, ty_n = -(-width // TILE), -(-height // TILE)
    with torch.no_grad():
        ids = valid.reshape(-1).nonzero().squeeze(1)
        m = means2d.detach().reshape(-1, 2)[ids].double()
        r = extents.reshape(-1, 2)[ids].double() * (1 + 1e-4) + 1e-3
        # tile t holds pixel centres [TILE t + 0.5, TILE t + TILE - 0.5]
        lo = torch.ceil((m - r - (TILE - 0.5)) / TILE).long()
        hi = torch.floor((m + r - 0.5) / TILE).long()
        lo[:, 0].clamp_(0, tx_n - 1)
        lo[:, 1].clamp_(0, ty_n - 1)
        hi[:, 0].clamp_(max=tx_n - 1)
        hi[:, 1].clamp_(max=ty_n - 1)
        span = (hi - lo + 1).clamp(min=0)  # [V,2]
        counts = span[:, 0] * span[:, 1]
        total = int(counts.sum())
        owner = torch.repeat_interleave(torch.arange(len(ids), device=ids.device), counts)
        first = torch.cumsum(counts, 0) - counts
        off = torch.arange(total, device=ids.device) - first[owner]
        width_o = span[owner, 0]
        tx = lo[owner, 0] + off % width_o.clamp(min=1)
        ty = lo[owner, 1] + off // width_o.clamp(min=1)
        gid = ids[owner]
        cam = gid // N
        tile = (cam * ty_n + ty) * tx_n + tx
        # depth > near > 0, so its float32 bit pattern orders like the value itself
        zbits = depths.detach().reshape(-1)[gid].float().view(torch.int32).long()
        order = torch.argsort(tile * (1 << 32) + zbits)
        tile = tile[order]
        gid = gid[order]
        n_tiles = C * ty_n * tx_n
        tile_counts = torch.bincount(tile, minlength=n_tiles)
        tile_starts = torch.cumsum(tile_counts, 0) - tile_counts
    return TileBins(gid, tile, tile_starts, tile_counts, tx_n, ty_n)
