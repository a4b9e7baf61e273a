"""DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12).

``x_t = alpha_t x0 + sqrt(sigma_t^2 - c^2) eps + c z`` with ``c = eta sigma_t sqrt(1 - e^{-2h})``,
``h = lambda_t - lambda_s``. For VP schedules ``c`` is the paper's ``sigma_t(eta)`` (eq. 16); the
lambda form carries it to VE and flow schedules unchanged. ``eta = 0`` is the deterministic
first-order solver of the probability-flow ODE (exponential Euler, DPM-Solver-1, DEIS-1).
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import first_order, step_values
from text2d3.solvers.model import Denoiser


def ddim(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> Float[Tensor, "B ..."]:
    """DDIM over the grid ``ts``; one model evaluation per step (NFE = N).

    Example:
        >>> from text2d3.solvers.schedules import VPLinear
        >>> from text2d3.solvers.grids import time_grid
        >>> d = Denoiser(lambda x, t: 0 * x, VPLinear(), "x0")
        >>> x = ddim(d, torch.ones(2, 3, dtype=torch.float64), time_grid(VPLinear(), 5))
        >>> bool(x.abs().max() < 1e-1)
        True
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"ddim: eta must lie in [0, 1], got {eta}")
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver="ddim")
        denoised = denoise(x, s)
        if eta == 0.0:
            x = first_order(denoised, step)
            continue
        c = eta * step.sigma_t * math.sqrt(-math.expm1(-2.0 * step.h))
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = step.alpha_t * denoised.x0 + math.sqrt(step.sigma_t**2 - c**2) * denoised.eps + c * z
    return x
