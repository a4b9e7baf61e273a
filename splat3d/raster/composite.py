"""Front-to-back alpha compositing of depth-sorted Gaussians over 16x16 tiles, vectorised.

For each tile the exponent of the Gaussian falloff ``log o - ½ dᵀ Σ⁻¹ d`` is a quadratic in
tile-local pixel coordinates ``(u, v)``, so one batched matrix product of the pixel basis
``[u², uv, v², u, v, 1]`` (256 x 6) with per-pair coefficient vectors evaluates it for a whole
segment of a tile's depth list. The list is consumed in segments of 32 Gaussians with the
transmittance carried across segments, and a tile retires once every pixel has stopped, so
work and memory scale with what an early-stopping renderer actually visits.

Per pixel, following gsplat (v1.5):
``alpha_i = min(0.999, o_i exp(-½ dᵀΣ⁻¹d))``; contributions with ``alpha_i < 1/255`` are
skipped; the pixel stops *before* the Gaussian that would bring its transmittance to
``<= 1e-4``; ``C = Σ alpha_i T_i f_i`` with ``T_i = Π_{j<i} (1 - alpha_j)``.

The backward pass is written by hand (not autograd) so nothing of size pixels x Gaussians
is stored: it recomputes each segment front to back, using the per-pixel count of included
Gaussians saved by the forward pass, and gets the "behind" sums ``Σ_{j>i} w_j f_j·g`` as the
total minus a running prefix.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from splat3d.raster.binning import TILE, TileBins
from splat3d.raster.projection import ALPHA_MIN

T_STOP = 1e-4
"""A pixel stops before the Gaussian that would bring its transmittance to this or below."""
ALPHA_MAX = 0.999
_DUMMY_LOG = -1e4  # exp() underflows to exactly 0: padding entries contribute nothing


@dataclass
class TilePlan:
    """What the compositor needs besides the per-pair tensors."""

    tile_starts: Int[Tensor, " NT"]
    tile_counts: Int[Tensor, " NT"]
    outside: Tensor
    """[NT, 256] bool: pixels of partial tiles that lie outside the image."""
    segment: int = 32
    """Gaussians per tile processed in one vectorised step (32 measured best on a 2-core CPU:
    longer steps waste work past the stopping point, shorter ones pay per-step overhead)."""

    def segments(self) -> Iterator[tuple[int, int]]:
        """Yield ``(offset, size)`` of successive segments of every tile's depth list."""
        return ((off, self.segment) for off in itertools.count(0, self.segment))


def pixel_basis(dtype: torch.dtype, device: torch.device) -> Float[Tensor, "256 6"]:
    """``[u², uv, v², u, v, 1]`` for the pixel centres of a tile, relative to its centre."""
    i = torch.arange(TILE * TILE, device=device)
    u = (i % TILE).to(dtype) + 0.5 - TILE / 2
    v = (i // TILE).to(dtype) + 0.5 - TILE / 2
    return torch.stack([u * u, u * v, v * v, u, v, torch.ones_like(u)], dim=-1)


def falloff_coefficients(
    means2d: Float[Tensor, "P 2"], conics: Float[Tensor, "P 3"], opacities: Float[Tensor, " P"],
    tile_centers: Float[Tensor, "P 2"],
) -> Float[Tensor, "P 6"]:
    """Coefficients of ``log o - ½ dᵀ Σ⁻¹ d`` in the basis of :func:`pixel_basis`."""
    mu = means2d - tile_centers
    mx, my = mu.unbind(-1)
    a, b, c = conics.unbind(-1)
    const = torch.log(opacities) - 0.5 * (a * mx * mx + 2 * b * mx * my + c * my * my)
    return torch.stack([-0.5 * a, -b, -0.5 * c, a * mx + b * my, b * mx + c * my, const], -1)


def _segment_index(plan: TilePlan, tiles: Tensor, off: int, size: int, n_pairs: int) -> Tensor:
    ar = torch.arange(size, device=tiles.device)
    start = plan.tile_starts[tiles] + off
    left = plan.tile_counts[tiles] - off
    return torch.where(ar < left[:, None], start[:, None] + ar, n_pairs)  # [A,S]


def _alphas(basis: Tensor, coef_ext: Tensor, idx: Tensor) -> Tensor:
    power = torch.matmul(basis, coef_ext[idx].transpose(1, 2))  # [A,256,S]
    alpha = power.exp_().clamp_max_(ALPHA_MAX)
    # keeps alpha >= 1/255 (threshold keeps values strictly above its argument), zeroes the rest
    return torch.nn.functional.threshold_(alpha, _just_below_alpha_min(alpha.dtype), 0.0)


@functools.cache
def _just_below_alpha_min(dtype: torch.dtype) -> float:
    t = torch.tensor(ALPHA_MIN, dtype=dtype)
    return torch.nextafter(t, torch.zeros_like(t)).item()


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coef: Tensor, feat: Tensor, plan: TilePlan):  # noqa: D102
        n_tiles, D = len(plan.tile_counts), feat.shape[1]
        P = coef.shape[0]
        basis = pixel_basis(coef.dtype, coef.device)
        coef_ext = torch.cat([coef, coef.new_tensor([[0, 0, 0, 0, 0, _DUMMY_LOG]])])
        feat_ext = torch.cat([feat, feat.new_zeros(1, D)])
        fsum = coef.new_zeros(n_tiles, TILE * TILE, D)
        trans = coef.new_ones(n_tiles, TILE * TILE)
        done = plan.outside.clone()
        n_incl = torch.zeros(n_tiles, TILE * TILE, dtype=torch.int32, device=coef.device)
        active = (plan.tile_counts > 0).nonzero().squeeze(1)
        for off, size in plan.segments():
            if active.numel() == 0:
                break
            idx = _segment_index(plan, active, off, size, P)
            alpha = _alphas(basis, coef_ext, idx)
            om = 1.0 - alpha
            t_a, done_a = trans[active], done[active]
            t_live = torch.where(done_a, 0.0, t_a)  # a stopped pixel includes nothing more
            tc = torch.cumprod(om, -1).mul_(t_live[..., None])  # transmittance after each
            incl = tc > T_STOP
            n_seg = incl.sum(-1)
            last = tc.gather(-1, (n_seg - 1).clamp(min=0)[..., None]).squeeze(-1)
            w = alpha.mul_(tc.div_(om)).mul_(incl)  # alpha_i T_i on included entries
            fsum.index_add_(0, active, torch.matmul(w, feat_ext[idx]))
            trans[active] = torch.where(n_seg > 0, last, t_a)
            done_a = done_a | (n_seg < size)
            done[active] = done_a
            n_incl[active] += n_seg.to(torch.int32)
            keep = (plan.tile_counts[active] > off + size) & ~done_a.all(-1)
            active = active[keep]
        ctx.plan = plan
        ctx.save_for_backward(coef, feat, fsum, trans, n_incl)
        return fsum, trans

    @staticmethod
    def backward(ctx, g_fsum: Tensor, g_trans: Tensor):  # noqa: D102
        coef, feat, fsum, trans, n_incl = ctx.saved_tensors
        plan: TilePlan = ctx.plan
        P, D = coef.shape[0], feat.shape[1]
        basis = pixel_basis(coef.dtype, coef.device)
        coef_ext = torch.cat([coef, coef.new_tensor([[0, 0, 0, 0, 0, _DUMMY_LOG]])])
        feat_ext = torch.cat([feat, feat.new_zeros(1, D)])
        g_coef = torch.zeros_like(coef_ext)
        g_feat = torch.zeros_like(feat_ext)
        # K = Σ_{j>i} w_j f_j·g + T_final (dL/dT_final): the part of dL/dalpha_i that is
        # divided by (1 - alpha_i); it starts at the pixel total and shrinks front to back.
        k_rest = (fsum * g_fsum).sum(-1) + g_trans * trans
        t_run = torch.ones_like(trans)
        used = n_incl.max(-1).values  # how far into its list each tile's forward pass went
        active = (used > 0).nonzero().squeeze(1)
        for off, size in plan.segments():
            if active.numel() == 0:
                break
            idx = _segment_index(plan, active, off, size, P)
            alpha = _alphas(basis, coef_ext, idx)
            clamped = alpha >= ALPHA_MAX
            om = 1.0 - alpha
            t_a = t_run[active]
            tc = torch.cumprod(om, -1).mul_(t_a[..., None])
            n_a = n_incl[active]
            n_in_seg = (n_a - off).clamp(0, size)
            last = tc.gather(-1, (n_in_seg - 1).clamp(min=0)[..., None].long()).squeeze(-1)
            t_run[active] = torch.where(n_in_seg > 0, last, t_a)
            stopped = torch.arange(size, device=coef.device) >= n_in_seg[..., None]
            alpha.masked_fill_(stopped, 0.0)  # nothing counts beyond a pixel's stopping point
            w = tc.div_(om).mul_(alpha)  # alpha_i T_i
            g_a = g_fsum[active]  # [A,256,D]
            wg = torch.matmul(g_a, feat_ext[idx].transpose(1, 2)).mul_(w)  # w_i f_i·g
            rest = torch.cumsum(wg, -1).neg_().add_(k_rest[active][..., None])
            k_rest[active] = rest[..., -1]
            # dL/dpower_i = alpha_i dL/dalpha_i = w_i f_i·g - alpha_i K_i / (1 - alpha_i)
            d_power = rest.mul_(alpha).div_(om).neg_().add_(wg).masked_fill_(clamped, 0.0)
            flat = idx.reshape(-1)
            g_coef.index_add_(0, flat, torch.matmul(d_power.transpose(1, 2), basis).reshape(-1, 6))
            g_feat.index_add_(0, flat, torch.matmul(w.transpose(1, 2), g_a).reshape(-1, D))
            active = active[used[active] > off + size]
        return g_coef[:P], g_feat[:P], None


def composite(
    coef: Float[Tensor, "P 6"], feat: Float[Tensor, "P D"], plan: TilePlan
) -> tuple[Float[Tensor, "NT 256 D"], Float[Tensor, "NT 256"]]:
    """Differentiable compositing of binned pairs: returns per-tile ``Σ w f`` and final
    transmittance (``alpha = 1 - T``)."""
    return _Composite.apply(coef, feat, plan)


def tile_plan(bins: TileBins, n_cameras: int, width: int, height: int) -> TilePlan:
    """Build the compositor's plan, flagging pixels of edge tiles that fall off the image."""
    dev = bins.tile_counts.device
    i = torch.arange(TILE * TILE, device=dev)
    tx = torch.arange(bins.tiles_x, device=dev)
    ty = torch.arange(bins.tiles_y, device=dev)
    px = tx[None, :, None] * TILE + (i % TILE)[None, None]  # [1,TX,256]
    py = ty[:, None, None] * TILE + (i // TILE)[None, None]  # [TY,1,256]
    outside = (px >= width) | (py >= height)  # [TY,TX,256]
    outside = outside.reshape(1, -1, TILE * TILE).expand(n_cameras, -1, -1).reshape(-1, TILE * TILE)
    return TilePlan(bins.tile_starts, bins.tile_counts, outside.contiguous())
