"""Singlestep DPM-Solver-1/2/3 in noise (``eps``) form (Lu et al. 2022, "DPM-Solver: A Fast ODE
Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps", NeurIPS).

Each step ``s -> t`` (``h = lambda_t - lambda_s``) evaluates the model at ``order`` points:

* order 1 -- eq. 3.7 (= DDIM);
* order 2 -- Algorithm 1 (DPM-Solver-2) with ``r1 = 1/2``;
* order 3 -- Algorithm 2 (DPM-Solver-3) with ``r1 = 1/3``, ``r2 = 2/3``.

NFE = ``order`` x steps (or ``sum(orders)``); global order ``order`` (Theorem 3.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import Step, first_order, step_values
from text2d3.solvers.model import Denoiser
from text2d3.solvers.schedules import NoiseSchedule


def intermediate(schedule: NoiseSchedule, step: Step, r: float) -> tuple[Tensor, float, float]:
    """Time, ``alpha`` and ``sigma`` at ``lambda_s + r h`` (shared by the singlestep solvers)."""
    t = schedule.t_of_lambda(torch.tensor(step.lambda_s + r * step.h, dtype=torch.float64))
    return t, float(schedule.alpha(t)), float(schedule.sigma(t))


def step_orders(orders: Sequence[int] | None, order: int, steps: int, solver: str) -> list[int]:
    """Per-step orders: ``orders`` if given (one per step, each in ``1..order``), else ``order``.

    Mixing orders spends an exact NFE budget, e.g. ``[3, 3, 2]`` for 8 evaluations, as in
    DPM-Solver's fixed-budget recipe (Lu et al. 2022, Sec. 3.4).
    """
    if orders is None:
        return [order] * steps
    orders = list(orders)
    if len(orders) != steps or not all(1 <= k <= order for k in orders):
        raise ValueError(f"{solver}: orders must be {steps} values in 1..{order}, got {orders}")
    return orders


def dpm_solver(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    order: int = 3,
    orders: Sequence[int] | None = None,
) -> Float[Tensor, "B ..."]:
    """Singlestep DPM-Solver of the given ``order`` (1, 2 or 3) over the grid ``ts``; ``orders``
    overrides the order step by step (NFE = ``sum(orders)``)."""
    if order not in (1, 2, 3):
        raise ValueError(f"dpm_solver: order must be 1, 2 or 3, got {order}")
    schedule = denoise.schedule
    per_step = step_orders(orders, order, len(ts) - 1, f"dpmsolver{order}")
    for s, t, k in zip(ts[:-1], ts[1:], per_step, strict=True):
        step = step_values(schedule, s, t, solver=f"dpmsolver{order}")
        denoised = denoise(x, s)
        if k == 1:
            x = first_order(denoised, step)
            continue
        h, eps_s = step.h, denoised.eps
        x_scaled = x / step.alpha_s
        if k == 2:
            r1 = 0.5
            t1, a1, s1 = intermediate(schedule, step, r1)
            u = a1 * x_scaled - s1 * math.expm1(r1 * h) * eps_s
            d1 = denoise(u, t1).eps - eps_s
            x = (step.alpha_t * x_scaled - step.sigma_t * math.expm1(h) * eps_s
                 - step.sigma_t / (2.0 * r1) * math.expm1(h) * d1)
            continue
        r1, r2 = 1.0 / 3.0, 2.0 / 3.0
        t1, a1, s1 = intermediate(schedule, step, r1)
        t2, a2, s2 = intermediate(schedule, step, r2)
        u1 = a1 * x_scaled - s1 * math.expm1(r1 * h) * eps_s
        d1 = denoise(u1, t1).eps - eps_s
        u2 = (a2 * x_scaled - s2 * math.expm1(r2 * h) * eps_s
              - s2 * r2 / r1 * (math.expm1(r2 * h) / (r2 * h) - 1.0) * d1)
        d2 = denoise(u2, t2).eps - eps_s
        x = (step.alpha_t * x_scaled - step.sigma_t * math.expm1(h) * eps_s
             - step.sigma_t / r2 * (math.expm1(h) / h - 1.0) * d2)
    return x
