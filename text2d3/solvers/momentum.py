"""Momentum solvers: Polyak's heavy ball (HB) on PLMS and the Generalised Heavy Ball (GHVB)
(Wizadwongsa et al. 2023, "Diffusion Sampling with Momentum for Mitigating Divergence Artifacts",
Sec. 4.1 and 4.2).

Both step ``y = x / alpha`` in ``S = sigma / alpha`` (the DDIM variables, see :mod:`.pndm`):
``y_(n+1) = y_n + (S_(n+1) - S_n) u_n`` with

* ``variant="heavy_ball"``: ``u_n = (1 - beta) u_(n-1) + beta AB_k(eps_n, ..., eps_(n-k+1))``
  -- damps oscillations but is only first order for ``beta < 1``;
* ``variant="ghvb"``: ``v_n = (1 - beta) v_(n-1) + beta eps_n`` and ``u_n = sum_j c_j v_(n-j)``
  with the GHVB weights of :func:`~text2d3.solvers.multistep.momentum_ab_coefficients` -- order
  ``k`` for every ``beta`` in ``(0, 1]``; ``beta = 1`` is PLMS of order ``k``.

Both start with lower orders and spend 1 NFE per step. Like PLMS the weights assume equal steps in
``S`` (Karras grid with ``rho = 1``); on other grids orders above 2 drop to 2.
"""

from __future__ import annotations

import math
from typing import Literal

from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import step_values
from text2d3.solvers.model import Denoiser
from text2d3.solvers.multistep import momentum_ab_coefficients
from text2d3.solvers.pndm import transfer


def ghvb(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    order: int = 2,
    beta: float = 0.8,
    variant: Literal["ghvb", "heavy_ball"] = "ghvb",
) -> Float[Tensor, "B ..."]:
    """GHVB (default) or PLMS with heavy-ball momentum, ``order`` 1..4, damping ``beta``."""
    if variant not in ("ghvb", "heavy_ball"):
        raise ValueError(f"ghvb: variant must be 'ghvb' or 'heavy_ball', got {variant!r}")
    if order not in (1, 2, 3, 4) or not 0.0 < beta <= 1.0:
        raise ValueError(f"ghvb: need order in 1..4 and 0 < beta <= 1, got {order}, {beta}")
    history: list[Tensor] = []  # newest first: v_n (ghvb) or eps_n (heavy ball)
    velocity: Tensor | None = None
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver="ghvb")
        eps = denoise(x, s).eps
        if variant == "ghvb":
            velocity = eps if velocity is None else (1.0 - beta) * velocity + beta * eps
            history = [velocity, *history][:order]
            weights = momentum_ab_coefficients(len(history), beta)
            update = sum(w * v for w, v in zip(weights, history, strict=True))
        else:
            history = [eps, *history][:order]
            weights = momentum_ab_coefficients(len(history), 1.0)
            combined = sum(w * e for w, e in zip(weights, history, strict=True))
            velocity = combined if velocity is None else (1.0 - beta) * velocity + beta * combined
            update = velocity
        ds = math.exp(-step.lambda_t) - math.exp(-step.lambda_s)
        x = transfer(x, update, step.alpha_s, step.alpha_t, ds)
    return x
