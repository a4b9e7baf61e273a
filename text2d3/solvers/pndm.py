"""PNDM / PLMS (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds").

Both work in ``y = x / alpha`` and ``S = sigma / alpha``, where the probability-flow ODE is
``dy/dS = eps(x, t)`` and the DDIM "transfer" ``phi`` (eq. 9) is an Euler step in ``S``:
``x_t = alpha_t (x_s / alpha_s + (S_t - S_s) e)``. The gradient part ``e`` is

* F-PNDM warm-up (``warmup="rk4"``, eq. 13): pseudo Runge-Kutta 4 on the first three steps,
  with the half step taken at the midpoint in ``S`` (so it is classical RK4 in ``S``), 4 NFE each;
* PLMS (eq. 12): the fourth-order Adams-Bashforth combination of the last four ``eps``,
  1 NFE per step; ``warmup="lower_order"`` starts PLMS with Adams-Bashforth orders 1, 2, 3.

NFE = ``steps + 9`` with ``rk4`` (for ``steps >= 3``), ``steps`` with ``lower_order``.

The Adams-Bashforth weights are constants, exact for steps of equal size in ``S``. On any other
grid the rule stays consistent but its global order drops to 2 (the product of the ``O(h)``
variations of ``eps`` and of ``dS/dstep`` leaves an ``O(h^3)`` local error); use a Karras grid
with ``rho = 1`` to get fourth order.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import step_values
from text2d3.solvers.model import Denoiser
from text2d3.solvers.multistep import momentum_ab_coefficients


def transfer(x: Tensor, eps: Tensor, alpha_s: float, alpha_t: float, ds: float) -> Tensor:
    """DDIM transfer ``phi``: Euler step of ``dy/dS = eps`` over ``ds = S_t - S_s``."""
    return alpha_t * (x / alpha_s + ds * eps)


def pndm(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    warmup: Literal["rk4", "lower_order"] = "rk4",
) -> Float[Tensor, "B ..."]:
    """F-PNDM (``warmup="rk4"``) or PLMS with a lower-order start over the grid ``ts``."""
    if warmup not in ("rk4", "lower_order"):
        raise ValueError(f"pndm: warmup must be 'rk4' or 'lower_order', got {warmup!r}")
    schedule = denoise.schedule
    history: list[Tensor] = []  # eps at previous grid points, newest first
    for i, (s, t) in enumerate(zip(ts[:-1], ts[1:], strict=True)):
        step = step_values(schedule, s, t, solver="pndm")
        big_s, big_t = math.exp(-step.lambda_s), math.exp(-step.lambda_t)
        e1 = denoise(x, s).eps
        history = [e1, *history][:4]
        if warmup == "rk4" and i < 3:
            s_mid = 0.5 * (big_s + big_t)
            t_mid = schedule.t_of_lambda(torch.tensor(-math.log(s_mid), dtype=torch.float64))
            a_mid, a_s, a_t = float(schedule.alpha(t_mid)), step.alpha_s, step.alpha_t
            e2 = denoise(transfer(x, e1, a_s, a_mid, s_mid - big_s), t_mid).eps
            e3 = denoise(transfer(x, e2, a_s, a_mid, s_mid - big_s), t_mid).eps
            e4 = denoise(transfer(x, e3, a_s, a_t, big_t - big_s), t).eps
            e = (e1 + 2.0 * e2 + 2.0 * e3 + e4) / 6.0
        else:
            weights = momentum_ab_coefficients(len(history), 1.0)
            e = sum(w * h for w, h in zip(weights, history, strict=True))
        x = transfer(x, e, step.alpha_s, step.alpha_t, big_t - big_s)
    return x
