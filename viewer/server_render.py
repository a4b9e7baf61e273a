"""Server-side rendering: the render callback the viewer calls and how its output is shown.

The viewer never renders Gaussians itself. It asks a :class:`RenderFn` -- camera (and
options) in, images out -- and turns the answer into an 8-bit picture. Any object with
``rgb`` / ``alpha`` / ``depth`` tensors of shape ``[1, H, W, *]`` will do
(:class:`splat3d.RenderOutput` is one), so a trainer can hand in its own renderer.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from jaxtyping import Float, UInt8
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.rasterize import Backend, rasterize
from viewer.config import RenderOptions
from viewer.scene_state import SceneState


class RenderResult(Protocol):
    """What a render callback returns (``splat3d.RenderOutput`` satisfies it)."""

    rgb: Float[Tensor, "1 H W D"]
    alpha: Float[Tensor, "1 H W 1"]
    depth: Float[Tensor, "1 H W 1"]


class RenderFn(Protocol):
    """``render_fn(cameras, options) -> RenderResult`` for one camera."""

    def __call__(self, cameras: Cameras, options: RenderOptions) -> RenderResult: ...


class RasterizeRenderer:
    """The default :class:`RenderFn`: ``splat3d.rasterize`` on the state's current Gaussians.

    ``output == "features"`` renders the state's per-Gaussian features instead of SH colour.
    """

    def __init__(self, state: SceneState, backend: Backend = "auto",
                 device: torch.device | str | None = None) -> None:
        self.state = state
        self.backend: Backend = backend
        self.device = device

    def __call__(self, cameras: Cameras, options: RenderOptions) -> RenderResult:
        snap = self.state.snapshot()
        gaussians = snap.gaussians
        device = self.device if self.device is not None else gaussians.device
        colors = None
        background = torch.tensor(options.background, dtype=torch.float32)
        if options.output == "features":
            if snap.features is None:
                raise ValueError("RasterizeRenderer: output='features' but the scene state "
                                 "has no features")
            colors = snap.features.to(device=device, dtype=torch.float32)
            background = torch.zeros(colors.shape[-1])
        with torch.no_grad():
            return rasterize(gaussians.to(device), cameras.to(device),
                             sh_degree=min(options.sh_degree, gaussians.sh_degree),
                             background=background.to(device), backend=self.backend,
                             colors=colors, near=options.near)


def render_image(render_fn: RenderFn, cameras: Cameras,
                 options: RenderOptions) -> UInt8[np.ndarray, "H W 3"]:
    """Render camera 0 of ``cameras`` and map the chosen output to an RGB picture."""
    with torch.no_grad():
        out = render_fn(cameras[0], options)
    return display_image(out, options)


def display_image(out: RenderResult, options: RenderOptions) -> UInt8[np.ndarray, "H W 3"]:
    """8-bit RGB picture of ``options.output``: colour as is; alpha as grey; depth as
    normalised inverse depth on the background; features as three min-max scaled channels."""
    alpha = out.alpha[0].detach().float().cpu()  # [H, W, 1]
    background = torch.tensor(options.background, dtype=torch.float32)
    if options.output == "rgb":
        image = out.rgb[0, ..., :3].detach().float().cpu()
    elif options.output == "alpha":
        image = alpha.expand(*alpha.shape[:2], 3)
    elif options.output == "depth":
        image = _inverse_depth_picture(out.depth[0].detach().float().cpu(), alpha, background)
    elif options.output == "features":
        image = _feature_picture(out.rgb[0].detach().float().cpu(), options.feature_channel)
    else:
        raise ValueError(f"display_image: unknown output {options.output!r}; use 'rgb', "
                         f"'depth', 'alpha' or 'features'")
    return (image.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).numpy()


def _inverse_depth_picture(depth: Tensor, alpha: Tensor, background: Tensor) -> Tensor:
    # Inverse depth spreads near detail; percentiles keep a few stray splats from
    # flattening the range.
    hit = alpha[..., 0] > 0.5
    inv = torch.where(depth[..., 0] > 0, 1.0 / depth[..., 0].clamp_min(1e-6), 0.0)
    if bool(hit.any()):
        lo, hi = torch.quantile(inv[hit], torch.tensor([0.01, 0.99])).tolist()
    else:
        lo, hi = 0.0, 1.0
    grey = ((inv - lo) / max(hi - lo, 1e-8)).clamp(0.0, 1.0)[..., None].expand(*inv.shape, 3)
    return grey * alpha + background * (1.0 - alpha)


def _feature_picture(features: Tensor, first: int) -> Tensor:
    count = features.shape[-1]
    if not 0 <= first < count:
        raise ValueError(f"display_image: feature_channel={first} but the render has "
                         f"{count} channels")
    chosen = features[..., first:first + 3]
    if chosen.shape[-1] < 3:
        chosen = torch.cat([chosen, chosen.new_zeros(*chosen.shape[:2], 3 - chosen.shape[-1])],
                           dim=-1)
    flat = chosen.reshape(-1, 3)
    lo, hi = flat.min(0).values, flat.max(0).values
    return (chosen - lo) / (hi - lo).clamp_min(1e-8)
