"""Shared building blocks of the exponential-integrator solvers.

In ``lambda = log(alpha/sigma)`` the probability-flow ODE has the exact variation-of-constants
solutions (Lu et al. 2022, DPM-Solver, eq. 3.4; Lu et al. 2022b, DPM-Solver++, eq. 8)

    x_t = (alpha_t/alpha_s) x_s - alpha_t int_{l_s}^{l_t} e^{-l} eps(l) dl      (noise form)
    x_t = (sigma_t/sigma_s) x_s + sigma_t int_{l_s}^{l_t} e^{l} x0(l) dl        (data form)

With ``h = l_t - l_s`` and ``x0(l_s + u) = sum_n u^n / n! x0^(n)``, the data form becomes
``x_t = (sigma_t/sigma_s) x_s + alpha_t sum_n h^(n+1) phi_(n+1)(-h) x0^(n)`` with the
``phi`` functions of exponential integrators (Hochbruck & Ostermann 2010, eq. 2.10). Every solver
here truncates one of these expansions; the first-order truncation, shared by DDIM, DEIS-1,
DPM-Solver-1 and DPM-Solver++-1, is ``x_t = alpha_t x0 + sigma_t eps``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from text2d3.solvers.model import Denoised
from text2d3.solvers.schedules import NoiseSchedule


class Step(NamedTuple):
    """Schedule values at the two ends of a step ``s -> t`` (python floats)."""

    alpha_s: float
    sigma_s: float
    alpha_t: float
    sigma_t: float
    lambda_s: float
    lambda_t: float

    @property
    def h(self) -> float:
        """Step size in ``lambda`` (positive when denoising)."""
        return self.lambda_t - self.lambda_s


def step_values(schedule: NoiseSchedule, s: Tensor, t: Tensor, *, solver: str) -> Step:
    """:class:`Step` for ``s -> t``; a specific error if ``lambda`` is infinite at either end."""
    ends = torch.stack([torch.as_tensor(s), torch.as_tensor(t)]).to(torch.float64)
    alpha, sigma, lam = schedule.alpha(ends), schedule.sigma(ends), schedule.lambda_of(ends)
    if not bool(torch.isfinite(lam).all()):
        raise ValueError(
            f"{solver}: works in log-SNR and needs finite lambda, got lambda={lam.tolist()} at "
            f"t={ends.tolist()} on {type(schedule).__name__}; keep the grid inside the schedule "
            "(e.g. t_start < 1 and t_end > 0 for rectified flow) or use euler/heun/midpoint"
        )
    return Step(float(alpha[0]), float(sigma[0]), float(alpha[1]), float(sigma[1]),
                float(lam[0]), float(lam[1]))


def first_order(denoised: Denoised, step: Step) -> Tensor:
    """One exponential-Euler step (= DDIM with ``eta = 0``): ``alpha_t x0 + sigma_t eps``."""
    return step.alpha_t * denoised.x0 + step.sigma_t * denoised.eps


def phi(k: int, z: float) -> float:
    """``phi_k(z) = int_0^1 e^{(1-u) z} u^(k-1) / (k-1)! du``, ``phi_0 = e^z``; series near 0."""
    if k == 0:
        return math.exp(z)
    if abs(z) < 0.05:
        # sum_j z^j / (j + k)!; 12 terms leave an error below 1e-19 for |z| < 0.05.
        return sum(z**j / math.factorial(j + k) for j in range(12))
    value = math.expm1(z) / z
    for j in range(2, k + 1):
        value = (value - 1.0 / math.factorial(j - 1)) / z
    return value


def data_form_weights(h: float, offsets: list[float]) -> list[float]:
    """Weights ``w_k`` with ``sigma_t int e^l P(l) dl = alpha_t sum_k w_k m_k`` for the polynomial
    ``P`` interpolating model values ``m_k`` at ``lambda_s + offsets[k]`` (``offsets[0] = 0``).

    Exact integration of the interpolant: ``P(l_s + u) = sum_n a_n u^n`` and
    ``int_0^h e^{-(h-u)} u^n du = n! h^(n+1) phi_(n+1)(-h)`` -- the variable-step exponential
    Adams-Bashforth rule used by :func:`~text2d3.solvers.dpm_solver_pp.dpmpp_3m`.
    """
    n = len(offsets)
    u = torch.tensor(offsets, dtype=torch.float64)
    vander = u[None, :] ** torch.arange(n, dtype=torch.float64)[:, None]  # [n, k]: u_k^n
    moments = torch.tensor(
        [math.factorial(j) * h ** (j + 1) * phi(j + 1, -h) for j in range(n)], dtype=torch.float64
    )
    # a = V^{-T} m and w . m = moments . a  =>  w = V^{-1} moments.
    return torch.linalg.solve(vander, moments).tolist()
