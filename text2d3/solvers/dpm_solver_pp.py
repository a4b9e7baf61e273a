"""DPM-Solver++ in data (``x0``) form (Lu et al. 2022b, "DPM-Solver++: Fast Solver for Guided
Sampling of Diffusion Probabilistic Models").

* :func:`dpmpp_2s` -- Algorithm 1 (singlestep, ``r = 1/2``), 2 NFE per step, order 2.
* :func:`dpmpp_2m` -- Algorithm 2 (multistep), 1 NFE per step, order 2.
* :func:`dpmpp_3m` -- the third-order multistep member (DPM-Solver++(3M), Lu et al. 2022b,
  App. B / the ``multistep_dpm_solver_third_update`` of the reference code): quadratic
  interpolation of ``x0`` in ``lambda`` through the last three evaluations, integrated exactly
  against ``e^lambda`` (:func:`~text2d3.solvers.expint.data_form_weights`). 1 NFE per step.

Multistep methods start with lower orders (1, then 2, ...), as in the paper. Dynamic
thresholding for pixel-space models is a :class:`~text2d3.solvers.model.Denoiser` option.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.dpm_solver import intermediate, step_orders
from text2d3.solvers.expint import data_form_weights, first_order, step_values
from text2d3.solvers.model import Denoiser


def dpmpp_2s(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    orders: Sequence[int] | None = None,
    spacing: Literal["logsnr", "time"] = "logsnr",
) -> Float[Tensor, "B ..."]:
    """DPM-Solver++(2S), Algorithm 1 with ``r = 1/2``: NFE = 2 x steps; ``orders`` (values 1 or 2,
    one per step) spends an odd budget, NFE = ``sum(orders)``; ``spacing`` measures ``r`` in
    ``lambda`` (paper) or in time (see :func:`~text2d3.solvers.dpm_solver.intermediate`)."""
    schedule = denoise.schedule
    per_step = step_orders(orders, 2, len(ts) - 1, "dpmpp2s")
    for s, t, k in zip(ts[:-1], ts[1:], per_step, strict=True):
        step = step_values(schedule, s, t, solver="dpmpp2s")
        denoised = denoise(x, s)
        if k == 1:
            x = first_order(denoised, step)
            continue
        x0_s = denoised.x0
        p1 = intermediate(schedule, step, s, t, 0.5, spacing)
        r = p1.r
        u = p1.sigma / step.sigma_s * x - p1.alpha * math.expm1(-r * step.h) * x0_s
        x0_1 = denoise(u, p1.t).x0
        d = (1.0 - 0.5 / r) * x0_s + 0.5 / r * x0_1
        x = step.sigma_t / step.sigma_s * x - step.alpha_t * math.expm1(-step.h) * d
    return x


def dpmpp_2m(
    denoise: Denoiser, x: Float[Tensor, "B ..."], ts: Float[Tensor, " N_plus_1"]
) -> Float[Tensor, "B ..."]:
    """DPM-Solver++(2M), Algorithm 2: NFE = steps; the first step is first order."""
    x0_prev, h_prev = None, None
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver="dpmpp2m")
        denoised = denoise(x, s)
        if x0_prev is None:
            x = first_order(denoised, step)
        else:
            r = h_prev / step.h
            d = (1.0 + 0.5 / r) * denoised.x0 - 0.5 / r * x0_prev
            x = step.sigma_t / step.sigma_s * x - step.alpha_t * math.expm1(-step.h) * d
        x0_prev, h_prev = denoised.x0, step.h
    return x


def dpmpp_3m(
    denoise: Denoiser, x: Float[Tensor, "B ..."], ts: Float[Tensor, " N_plus_1"]
) -> Float[Tensor, "B ..."]:
    """DPM-Solver++(3M): NFE = steps; orders 1 and 2 on the first two steps."""
    history: list[tuple[float, Tensor]] = []  # (lambda_k, x0_k), newest first
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver="dpmpp3m")
        history = [(step.lambda_s, denoise(x, s).x0), *history][:3]
        weights = data_form_weights(step.h, [lam - step.lambda_s for lam, _ in history])
        x = step.sigma_t / step.sigma_s * x + step.alpha_t * sum(
            w * x0 for w, (_, x0) in zip(weights, history, strict=True)
        )
    return x
