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
from typing import Literal, NamedTuple

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import Step, first_order, step_values
from text2d3.solvers.model import Denoiser
from text2d3.solvers.schedules import NoiseSchedule


class Point(NamedTuple):
    """An intermediate evaluation point of a singlestep solver."""

    t: Tensor
    alpha: float
    sigma: float
    r: float
    """Its position as a fraction of the step in ``lambda``."""


def intermediate(
    schedule: NoiseSchedule, step: Step, s: Tensor, t: Tensor, r: float,
    spacing: Literal["logsnr", "time"],
) -> Point:
    """The point a fraction ``r`` into the step ``s -> t``, measured in ``lambda`` (the papers'
    ``r_i``) or in time (what the reference DPM-Solver code does on time-uniform grids, and what
    diffusers does by evaluating at its grid timesteps). Shared by the singlestep solvers."""
    if spacing == "logsnr":
        t_r = schedule.t_of_lambda(torch.tensor(step.lambda_s + r * step.h, dtype=torch.float64))
        r_lambda = r
    else:
        t_r = s + r * (t - s)
        r_lambda = (float(schedule.lambda_of(t_r)) - step.lambda_s) / step.h
    return Point(t_r, float(schedule.alpha(t_r)), float(schedule.sigma(t_r)), r_lambda)


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
    spacing: Literal["logsnr", "time"] = "logsnr",
) -> Float[Tensor, "B ..."]:
    """Singlestep DPM-Solver of the given ``order`` (1, 2 or 3) over the grid ``ts``; ``orders``
    overrides the order step by step (NFE = ``sum(orders)``); ``spacing`` places the intermediate
    points (see :func:`intermediate`; order 3 needs ``r2 = 2/3`` in ``lambda``, so ``"time"``
    reduces DPM-Solver-3 to second order, as in the reference code)."""
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
            p1 = intermediate(schedule, step, s, t, 0.5, spacing)
            u = p1.alpha * x_scaled - p1.sigma * math.expm1(p1.r * h) * eps_s
            d1 = denoise(u, p1.t).eps - eps_s
            x = (step.alpha_t * x_scaled - step.sigma_t * math.expm1(h) * eps_s
                 - step.sigma_t / (2.0 * p1.r) * math.expm1(h) * d1)
            continue
        p1 = intermediate(schedule, step, s, t, 1.0 / 3.0, spacing)
        p2 = intermediate(schedule, step, s, t, 2.0 / 3.0, spacing)
        r1, r2 = p1.r, p2.r
        u1 = p1.alpha * x_scaled - p1.sigma * math.expm1(r1 * h) * eps_s
        d1 = denoise(u1, p1.t).eps - eps_s
        u2 = (p2.alpha * x_scaled - p2.sigma * math.expm1(r2 * h) * eps_s
              - p2.sigma * r2 / r1 * (math.expm1(r2 * h) / (r2 * h) - 1.0) * d1)
        d2 = denoise(u2, p2.t).eps - eps_s
        x = (step.alpha_t * x_scaled - step.sigma_t * math.expm1(h) * eps_s
             - step.sigma_t / r2 * (math.expm1(h) / h - 1.0) * d2)
    return x
