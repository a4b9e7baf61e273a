"""The public differentiable rasterizer: ``rasterize(gaussians, cameras) -> RenderOutput``.

Semantics follow gsplat's ``rasterization()`` (v1.5) so backends are interchangeable (see
:mod:`splat3d.raster.projection` and :mod:`splat3d.raster.composite` for the exact rules).
Where graphdeco's original 3DGS differs (alpha capped at 0.99, a pixel stops *after* the
Gaussian that brings T below 1e-4), we follow gsplat.

Backends:

* ``"torch"``: pure PyTorch, tile-based and vectorised; CPU or CUDA; the reference.
* ``"gsplat"``: gsplat's CUDA kernels, for CUDA tensors (``pip install splat3d[cuda]``; gsplat
  compiles its CUDA code on first use, which needs ``CUDA_HOME`` and, when no GPU is visible
  at build time, ``TORCH_CUDA_ARCH_LIST``).
* ``"native"``: our C++/CUDA kernels (``cuda/``, compiled on first use and cached; falls back
  to torch with a warning when they cannot be built).
* ``"auto"``: gsplat for CUDA tensors when it is installed, torch otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians

Backend = Literal["auto", "torch", "gsplat", "native"]
Mode = Literal["classic", "antialiased"]


@dataclass
class RenderOutput:
    """Images for ``C`` cameras plus the screen-space info densification needs."""

    rgb: Float[Tensor, "C H W D"]
    """Colour (or the ``D`` feature channels passed as ``colors``), background included."""
    alpha: Float[Tensor, "C H W 1"]
    """Accumulated opacity ``1 - T``."""
    depth: Float[Tensor, "C H W 1"]
    """Expected camera-space depth ``Σ w_i z_i / alpha`` (0 where nothing was hit)."""
    means2d: Float[Tensor, "C N 2"]
    """Projected centres; a non-leaf tensor of the graph, so ``means2d.retain_grad()`` before
    ``backward()`` gives the screen-space gradients used by densification."""
    radii: Int[Tensor, "C N 2"]
    """Screen-space half-extents in pixels (x, y); ``0`` where a Gaussian is culled."""
    width: int
    height: int

    @property
    def visible(self) -> Tensor:
        """[C, N] bool: the Gaussian was rendered by that camera."""
        return (self.radii > 0).all(-1)

    @property
    def info(self) -> dict:
        """The ``info`` dictionary gsplat's densification strategies read."""
        return {"means2d": self.means2d, "radii": self.radii, "width": self.width,
                "height": self.height, "n_cameras": self.rgb.shape[0]}


def rasterize(
    gaussians: Gaussians,
    cameras: Cameras,
    *,
    sh_degree: int | None = None,
    background: Float[Tensor, "*C D"] | None = None,
    mode: Mode = "classic",
    backend: Backend = "auto",
    colors: Float[Tensor, "*C N D"] | None = None,
    near: float = 0.01,
) -> RenderOutput:
    """Render ``gaussians`` from every camera in ``cameras``.

    Args:
        gaussians: the scene (raw parameters; gradients flow to all of them).
        cameras: ``C`` cameras sharing one image size.
        sh_degree: SH degree to evaluate (default: all the Gaussians have).
        background: colour behind the Gaussians, ``[D]`` or ``[C,D]`` (default black).
        mode: ``"classic"`` or ``"antialiased"`` (Mip-Splatting opacity compensation).
        backend: ``"auto"``, ``"torch"``, ``"gsplat"`` or ``"native"``.
        colors: per-Gaussian colours or features ``[N,D]`` / ``[C,N,D]`` used instead of SH.
        near: near-plane distance; Gaussians closer than this are culled.

    Example:
        >>> g = Gaussians.random_box(500, extent=0.5)
        >>> cams = Cameras.from_look_at(torch.tensor([[0., -3., 0.]]), torch.zeros(1, 3),
        ...                             fov_x=0.9, width=64, height=48)
        >>> rasterize(g, cams).rgb.shape
        torch.Size([1, 48, 64, 3])
    """
    if mode not in ("classic", "antialiased"):
        raise ValueError(f"rasterize: mode must be 'classic' or 'antialiased', got {mode!r}")
    degree = gaussians.sh_degree if sh_degree is None else sh_degree
    if not 0 <= degree <= gaussians.sh_degree:
        raise ValueError(f"rasterize: sh_degree={degree} but the Gaussians have degree "
                         f"{gaussians.sh_degree}")
    C = len(cameras)
    D = 3 if colors is None else colors.shape[-1]
    if background is None:
        background = gaussians.means.new_zeros(C, D)
    background = torch.as_tensor(background, dtype=gaussians.means.dtype,
                                 device=gaussians.device).expand(C, D)
    chosen = _choose_backend(backend, gaussians.device)
    if chosen == "gsplat":
        from splat3d.raster import gsplat_backend

        return gsplat_backend.rasterize_gsplat(gaussians, cameras, degree, background, mode,
                                               colors, near)
    if chosen == "native":
        from splat3d.raster.native_backend import project, render_projection
    else:
        from splat3d.raster.projection import project
        from splat3d.raster.torch_backend import render_projection

    proj = project(gaussians, cameras, sh_degree=degree, colors=colors,
                   antialiased=mode == "antialiased", near=near)
    img, alpha = render_projection(proj, cameras.width, cameras.height, background)
    depth = img[..., D:] / alpha.clamp_min(1e-10)
    return RenderOutput(img[..., :D], alpha, depth, proj.means2d, proj.radii,
                        cameras.width, cameras.height)


def _choose_backend(backend: str, device: torch.device) -> str:
    if backend == "torch":
        return "torch"
    if backend == "gsplat":
        from splat3d.raster import gsplat_backend

        gsplat_backend.require(device)
        return "gsplat"
    if backend == "native":
        from splat3d.raster import native_backend

        return "native" if native_backend.available(device) else "torch"
    if backend == "auto":
        if device.type == "cuda":
            from splat3d.raster import gsplat_backend

            if gsplat_backend.available():
                return "gsplat"
        if device.type == "cpu":
            from splat3d.raster import native_backend

            if native_backend.available(device):
                return "native"
        return "torch"
    raise ValueError(f"rasterize: unknown backend {backend!r}; "
                     "use 'auto', 'torch', 'gsplat' or 'native'")
