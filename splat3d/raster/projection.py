"""EWA projection of 3D Gaussians to screen space (Zwicker et al., 2001; Kerbl et al., 2023).

Semantics follow gsplat's ``fully_fused_projection`` (v1.5) so every backend agrees:

* camera-space mean ``t = R m + T``; 2D mean ``(fx x/z + cx, fy y/z + cy)`` (not clamped);
* the perspective Jacobian is evaluated at the camera-space point whose ``x/z`` and ``y/z``
  are clamped to ``0.3·tan(half-fov)`` beyond each image edge;
* the 2D covariance ``J R Σ Rᵀ Jᵀ`` is dilated by ``0.3 px²`` on the diagonal; in the
  ``"antialiased"`` mode opacity is multiplied by the Mip-Splatting compensation
  ``sqrt(det Σ / det(Σ + 0.3 I))`` (Yu et al., 2024);
* Gaussians with ``z`` outside ``[near, far]``, with (compensated) opacity below 1/255, or whose
  opacity-aware extent misses the image are culled (``radii == 0``);
* so are Gaussians with any non-finite screen-space value (a NaN or infinite mean, scale,
  rotation, opacity or colour, the colour taken before its clamp at 0): they render nothing
  and send no gradient to the others, in this backend and the native one (the gsplat
  adapter passes values through to gsplat unchanged).

Everything here is plain differentiable PyTorch; culled entries send zero gradients to the
others (their own values, a non-finite colour included, are never read downstream).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians
from splat3d.sh import SH_C0, eval_sh

ALPHA_MIN = 1.0 / 255.0
"""Contributions with alpha below this are skipped (gsplat's ALPHA_THRESHOLD)."""
EPS2D = 0.3
"""Screen-space dilation added to the 2D covariance diagonal, in px²."""


@dataclass
class Projection:
    """Per-camera screen-space Gaussians; ``C`` cameras, ``N`` Gaussians."""

    means2d: Float[Tensor, "C N 2"]
    """2D means in pixels (pixel centres at +0.5)."""
    conics: Float[Tensor, "C N 3"]
    """Upper triangle ``(a, b, c)`` of the inverse dilated 2D covariance."""
    opacities: Float[Tensor, "C N"]
    """Opacity (times the compensation in antialiased mode)."""
    depths: Float[Tensor, "C N"]
    """Camera-space z."""
    colors: Float[Tensor, "C N D"]
    """Per-camera colours or features."""
    extents: Float[Tensor, "C N 2"]
    """Half-widths (x, y) in pixels of the box holding every pixel with alpha >= 1/255."""
    valid: Bool[Tensor, "C N"]
    """Not culled."""

    @property
    def radii(self) -> Int[Tensor, "C N 2"]:
        """Integer extents as gsplat reports them; zero for culled Gaussians."""
        return torch.where(self.valid[..., None], torch.ceil(self.extents), 0).to(torch.int32)


def project(
    gaussians: Gaussians,
    cameras: Cameras,
    *,
    sh_degree: int,
    colors: Float[Tensor, "*C N D"] | None = None,
    antialiased: bool = False,
    near: float = 0.01,
    far: float = 1e10,
) -> Projection:
    """Project ``gaussians`` into every camera of ``cameras`` (see module docstring).

    ``colors``, when given ([N,D] or [C,N,D]), replaces the SH colour evaluation.
    """
    R = cameras.world_to_cam[:, :3, :3].to(gaussians.means)  # [C,3,3]
    T = cameras.world_to_cam[:, :3, 3].to(gaussians.means)  # [C,3]
    K = cameras.K.to(gaussians.means)
    fx, fy = K[:, 0, 0, None], K[:, 1, 1, None]  # [C,1]
    cx, cy = K[:, 0, 2, None], K[:, 1, 2, None]
    W, H = cameras.width, cameras.height

    mc = torch.einsum("cij,nj->cni", R, gaussians.means) + T[:, None]  # [C,N,3]
    x, y, z = mc.unbind(-1)
    in_depth = (z > near) & (z < far)
    z = torch.where(in_depth, z, torch.ones_like(z))  # keeps culled entries finite

    lim_x_pos = (W - cx) / fx + 0.3 * (0.5 * W / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * W / fx)
    lim_y_pos = (H - cy) / fy + 0.3 * (0.5 * H / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * H / fy)
    tx = z * torch.minimum(torch.maximum(x / z, -lim_x_neg), lim_x_pos)
    ty = z * torch.minimum(torch.maximum(y / z, -lim_y_neg), lim_y_pos)
    zero = torch.zeros_like(z)
    J = torch.stack([fx / z, zero, -fx * tx / (z * z),
                     zero, fy / z, -fy * ty / (z * z)], dim=-1).reshape(*z.shape, 2, 3)

    cov_c = R[:, None] @ gaussians.covariances[None] @ R[:, None].transpose(-1, -2)  # [C,N,3,3]
    cov2d = J @ cov_c @ J.transpose(-1, -2)  # [C,N,2,2]
    a, b, c = cov2d[..., 0, 0], cov2d[..., 0, 1], cov2d[..., 1, 1]
    det_raw = a * c - b * b
    a, c = a + EPS2D, c + EPS2D
    det = a * c - b * b
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)

    opacities = gaussians.opacities[None].expand_as(z)
    if antialiased:
        ratio = det_raw / det
        ok = ratio > 1e-12
        comp = torch.where(ok, torch.sqrt(torch.where(ok, ratio, torch.ones_like(ratio))), 0.0)
        opacities = opacities * comp

    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], dim=-1)

    with torch.no_grad():
        o = opacities.detach()
        level = 2.0 * torch.log(torch.clamp(o, min=ALPHA_MIN) / ALPHA_MIN)  # 2 ln(255 o)
        extents = torch.stack([torch.sqrt(level * a.detach()), torch.sqrt(level * c.detach())], -1)
        m = means2d.detach()
        on_screen = ((m[..., 0] + extents[..., 0] > 0) & (m[..., 0] - extents[..., 0] < W)
                     & (m[..., 1] + extents[..., 1] > 0) & (m[..., 1] - extents[..., 1] < H))
        valid = in_depth & (o >= ALPHA_MIN) & on_screen & torch.isfinite(extents).all(-1)

    if colors is None:
        campos = cameras.cam_to_world[:, :3, 3].to(gaussians.means)  # [C,3]
        sh = gaussians.sh
        if sh_degree > 0:
            dirs = gaussians.means[None] - campos[:, None]  # [C,N,3]
            colors = eval_sh(sh_degree, sh[None].expand(len(cameras), *sh.shape), dirs)
        else:
            colors = (sh[:, 0] * SH_C0)[None].expand(len(cameras), -1, -1)
        colors = colors + 0.5
        valid = valid & torch.isfinite(colors.detach()).all(-1)  # before the clamp hides a NaN
        colors = torch.clamp_min(colors, 0.0)
    else:
        if colors.ndim == 2:
            colors = colors[None].expand(len(cameras), -1, -1)
        valid = valid & torch.isfinite(colors.detach()).all(-1)

    return Projection(means2d, conics, opacities, mc[..., 2], colors, extents, valid)
