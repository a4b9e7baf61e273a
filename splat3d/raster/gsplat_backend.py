"""Backend on gsplat's CUDA kernels (``gsplat.rasterization``, v1.5 semantics).

gsplat is optional (``pip install splat3d[cuda]``). It compiles its CUDA code the first time
it is used, which needs ``CUDA_HOME`` pointing at a CUDA toolkit and, when no GPU is visible
at build time, ``TORCH_CUDA_ARCH_LIST`` (for example ``"8.0;9.0"``).
Nothing here imports gsplat until a render actually asks for it.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians


def available() -> bool:
    """gsplat is importable (without importing it, which may trigger a CUDA build)."""
    return importlib.util.find_spec("gsplat") is not None


def require(device: torch.device) -> None:
    """Raise a clear error when the gsplat backend cannot serve tensors on ``device``."""
    if device.type != "cuda":
        raise ValueError(
            f"backend='gsplat' runs on CUDA tensors only, but the Gaussians are on {device}; "
            "use backend='torch' (or 'auto') on the CPU")
    if not available():
        raise ImportError(
            "backend='gsplat' needs gsplat, which is not installed: pip install 'splat3d[cuda]' "
            "(it compiles on first use; set CUDA_HOME, and TORCH_CUDA_ARCH_LIST when building "
            "without a visible GPU)")


def rasterize_gsplat(
    gaussians: Gaussians, cameras: Cameras, sh_degree: int, background: Tensor, mode: str,
    colors: Tensor | None, near: float,
):
    """Render through ``gsplat.rasterization`` and repackage as a :class:`RenderOutput`."""
    from gsplat import rasterization

    from splat3d.rasterize import RenderOutput

    require(gaussians.device)
    dev = gaussians.device
    if colors is None:
        feats, degree = gaussians.sh[:, : (sh_degree + 1) ** 2], sh_degree
    else:
        feats, degree = colors, None
    D = 3 if colors is None else colors.shape[-1]
    img, alpha, meta = rasterization(
        gaussians.means, gaussians.quats, gaussians.scales, gaussians.opacities, feats,
        cameras.world_to_cam.to(dev, gaussians.means.dtype),
        cameras.K.to(dev, gaussians.means.dtype),
        cameras.width, cameras.height, near_plane=near, sh_degree=degree, packed=False,
        backgrounds=background, render_mode="RGB+ED", rasterize_mode=mode, eps2d=0.3,
    )
    radii = meta["radii"]
    if radii.ndim == 2:  # gsplat < 1.5 reports one radius per Gaussian
        radii = radii[..., None].expand(*radii.shape, 2)
    return RenderOutput(img[..., :D], alpha, img[..., D:], meta["means2d"], radii.int(),
                        cameras.width, cameras.height)
