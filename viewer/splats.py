"""Gaussians as the arrays viser's client-side splat node draws.

The browser draws each Gaussian with one colour (no view dependence), so the colour is the
SH DC term: ``rgb = clamp(0.5 + C0 * dc, 0, 1)``, what splat3d renders at SH degree 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float

from splat3d.gaussians import Gaussians
from splat3d.sh import sh_dc_to_rgb


@dataclass(frozen=True)
class SplatArrays:
    """Float32 NumPy arrays in the layout of ``viser.SceneApi.add_gaussian_splats``."""

    centers: Float[np.ndarray, "N 3"]
    covariances: Float[np.ndarray, "N 3 3"]
    rgbs: Float[np.ndarray, "N 3"]
    opacities: Float[np.ndarray, "N 1"]


def splat_arrays(gaussians: Gaussians) -> SplatArrays:
    """Activated centres, world covariances, DC colours and opacities of ``gaussians``."""
    with torch.no_grad():
        g = gaussians.detach().to("cpu", torch.float32)
        rgb = sh_dc_to_rgb(g.sh[:, 0]).clamp(0.0, 1.0)
        return SplatArrays(
            centers=g.means.numpy().copy(),
            covariances=g.covariances.numpy(),
            rgbs=rgb.numpy(),
            opacities=g.opacities[:, None].numpy(),
        )
