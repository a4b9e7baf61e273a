"""DEIS with time-polynomial extrapolation, tAB-DEIS (Zhang & Chen 2023, "Fast Sampling of
Diffusion Models with Exponential Integrator", ICLR, eq. 14 with Sec. 4's "tAB").

In ``y = x / alpha`` and ``S = sigma / alpha = e^{-lambda}`` the ODE is ``dy/dS = eps``, so
``y_t = y_s + int_s^t eps(tau) dS(tau)``. tAB-DEIS replaces ``eps(tau)`` by the Lagrange
polynomial in ``tau`` through the last ``order`` evaluations and integrates it exactly:

    x_t = alpha_t (x_s / alpha_s + sum_k C_k eps_k),
    C_k = int_{l_s}^{l_t} ell_k(t(l)) (-e^{-l}) dl,

with the ``C_k`` from 24-point Gauss-Legendre quadrature in ``lambda`` (exact to rounding for
the smooth integrand). ``order`` points give global order ``order`` (DEIS-1 is DDIM); the first
steps use fewer points. NFE = steps.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import Step, step_values
from text2d3.solvers.model import Denoiser
from text2d3.solvers.schedules import NoiseSchedule


@cache
def _gauss_legendre(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def tab_weights(schedule: NoiseSchedule, step: Step, nodes: list[float]) -> list[float]:
    """``C_k`` for Lagrange nodes ``nodes`` (times, newest first) over the step."""
    xi, w = _gauss_legendre()
    lam = step.lambda_s + 0.5 * (xi + 1.0) * step.h
    tau = schedule.t_of_lambda(torch.from_numpy(lam)).numpy()
    dens = -np.exp(-lam) * w * 0.5 * step.h  # quadrature weight times dS/dlambda
    weights = []
    for k, t_k in enumerate(nodes):
        ell = np.ones_like(tau)
        for m, t_m in enumerate(nodes):
            if m != k:
                ell *= (tau - t_m) / (t_k - t_m)
        weights.append(float((ell * dens).sum()))
    return weights


def deis(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    order: int = 3,
) -> Float[Tensor, "B ..."]:
    """tAB-DEIS with ``order`` (1..4) interpolation points over the grid ``ts``."""
    if order not in (1, 2, 3, 4):
        raise ValueError(f"deis: order must be in 1..4, got {order}")
    history: list[tuple[float, Tensor]] = []  # (t_k, eps_k), newest first
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver=f"deis{order}")
        history = [(float(s), denoise(x, s).eps), *history][:order]
        weights = tab_weights(denoise.schedule, step, [t_k for t_k, _ in history])
        x = step.alpha_t * (x / step.alpha_s + sum(
            c * e for c, (_, e) in zip(weights, history, strict=True)))
    return x
