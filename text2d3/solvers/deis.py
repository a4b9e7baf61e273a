"""DEIS, the exponential integrator with polynomial extrapolation of ``eps`` (Zhang & Chen 2023,
"Fast Sampling of Diffusion Models with Exponential Integrator", ICLR, eq. 14): tAB-DEIS
(extrapolation in time, the paper's default) and, with ``variable="logrho"``, the variant that
extrapolates in ``log rho = -lambda`` (the paper's rhoAB idea in log scale; diffusers' DEIS).

In ``y = x / alpha`` and ``S = sigma / alpha = e^{-lambda}`` the ODE is ``dy/dS = eps``, so
``y_t = y_s + int_s^t eps(tau) dS(tau)``. DEIS replaces ``eps`` by the Lagrange polynomial through
the last ``order`` evaluations, in ``t`` (tAB) or in ``lambda`` (logrho), and integrates exactly:

    x_t = alpha_t (x_s / alpha_s + sum_k C_k eps_k),
    C_k = int_{l_s}^{l_t} ell_k(v(l)) (-e^{-l}) dl,   v = t(l) (tAB) or l (logrho),

with the ``C_k`` from 24-point Gauss-Legendre quadrature in ``lambda`` (exact to rounding for
the smooth integrand). ``order`` points give global order ``order`` (DEIS-1 is DDIM); the first
steps use fewer points. NFE = steps.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

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


def deis_weights(
    schedule: NoiseSchedule, step: Step, nodes: list[float], variable: Literal["t", "logrho"]
) -> list[float]:
    """``C_k`` for Lagrange nodes ``nodes`` (values of ``variable``, newest first) over the step."""
    xi, w = _gauss_legendre()
    lam = step.lambda_s + 0.5 * (xi + 1.0) * step.h
    tau = schedule.t_of_lambda(torch.from_numpy(lam)).numpy() if variable == "t" else lam
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
    variable: Literal["t", "logrho"] = "t",
) -> Float[Tensor, "B ..."]:
    """DEIS with ``order`` (1..4) interpolation points in ``variable`` over the grid ``ts``."""
    if order not in (1, 2, 3, 4) or variable not in ("t", "logrho"):
        raise ValueError(
            f"deis: need order in 1..4 and variable in ('t', 'logrho'), got {order}, {variable!r}"
        )
    history: list[tuple[float, Tensor]] = []  # (node_k, eps_k), newest first
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver=f"deis{order}")
        node = float(s) if variable == "t" else step.lambda_s
        history = [(node, denoise(x, s).eps), *history][:order]
        weights = deis_weights(denoise.schedule, step, [v for v, _ in history], variable)
        x = step.alpha_t * (x / step.alpha_s + sum(
            c * e for c, (_, e) in zip(weights, history, strict=True)))
    return x
