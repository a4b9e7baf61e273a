"""Real spherical harmonics up to degree 3, in the ordering and sign convention used by
3D Gaussian Splatting (Kerbl et al., 2023) and gsplat, so PLY files stay interchangeable."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

SH_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
       -1.0925484305920792, 0.5462742152960396)
_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
       -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def num_sh_bases(degree: int) -> int:
    """Number of SH coefficients per channel for ``degree`` (0..3)."""
    return (degree + 1) ** 2


def sh_degree_from_bases(k: int) -> int:
    """Inverse of :func:`num_sh_bases`; raises for counts that are not a square in 1, 4, 9, 16."""
    for d in range(4):
        if (d + 1) ** 2 == k:
            return d
    raise ValueError(f"{k} SH coefficients per channel is not (d+1)^2 for a degree d in 0..3")


def sh_basis(degree: int, dirs: Float[Tensor, "*B 3"]) -> Float[Tensor, "*B K"]:
    """Real SH basis functions evaluated at unit directions ``dirs``, ``K = (degree+1)^2``."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [_C2[0] * xy, _C2[1] * yz, _C2[2] * (2.0 * zz - xx - yy), _C2[3] * xz,
                _C2[4] * (xx - yy)]
    if degree >= 3:
        out += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * xy * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def eval_sh(
    degree: int, sh: Float[Tensor, "*B K D"], dirs: Float[Tensor, "*B 3"]
) -> Float[Tensor, "*B D"]:
    """Evaluate SH coefficients (only the first ``(degree+1)^2`` are used) along ``dirs``.

    ``dirs`` need not be normalised. Returns the raw SH value; 3DGS colour is
    ``max(0, value + 0.5)``.
    """
    k = num_sh_bases(degree)
    dirs = torch.nn.functional.normalize(dirs, dim=-1)
    basis = sh_basis(degree, dirs)  # [*B, k]
    return (basis.unsqueeze(-1) * sh[..., :k, :]).sum(-2)


def rgb_to_sh_dc(rgb: Tensor) -> Tensor:
    """DC coefficient that renders as ``rgb`` (in [0,1]) through ``0.5 + SH_C0 * dc``."""
    return (rgb - 0.5) / SH_C0


def sh_dc_to_rgb(dc: Tensor) -> Tensor:
    return dc * SH_C0 + 0.5
