"""Exact testbed: Gaussian-mixture data, whose every noised marginal is again a mixture.

For data ``x0 ~ sum_k w_k N(mu_k, S_k)`` and ``x_t = alpha x0 + sigma eps``, component ``k`` of
``x_t`` is ``N(alpha mu_k, C_k)`` with ``C_k = alpha^2 S_k + sigma^2 I``, and inside it

    E[x0 | x_t, k] = mu_k + alpha S_k C_k^{-1} (x_t - alpha mu_k),
    E[eps | x_t, k] = sigma C_k^{-1} (x_t - alpha mu_k),

mixed with the posterior responsibilities ``softmax_k(log w_k + log N(x_t; alpha mu_k, C_k))``
(computed with logsumexp). Both are regular at ``alpha = 0`` and, for full-rank ``S_k``, at
``sigma = 0``, so ``eps*``, ``x0*``, ``v*`` and the flow velocity are exact for every schedule.

Reference endpoints of the probability-flow ODE (Song et al. 2021, eq. 13):

* one component: the ODE is linear and its flow map is closed-form,
  ``x_t = alpha_t mu + C_t^{1/2} C_s^{-1/2} (x_s - alpha_s mu)`` (all ``C`` share eigenvectors);
* mixtures: scipy's DOP853 (Hairer et al., "Solving ODEs I", II.5) at ``rtol = atol = 1e-10`` in
  rectified-flow coordinates ``y = x / (alpha + sigma)``, ``r = sigma / (alpha + sigma)``, where
  ``dy/dr = E[eps - x0 | y]`` is smooth on all of ``[0, 1]`` for every schedule.

Everything is float64.

Example:
    >>> from text2d3.solvers.schedules import VPLinear
    >>> gm = GaussianMixture.random(dim=2, components=3, seed=0)
    >>> model = gm.model(VPLinear(), "eps")
    >>> x = gm.sample_noised(4, VPLinear(), 1.0, seed=1)
    >>> model(x, torch.tensor(1.0, dtype=torch.float64)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from scipy.integrate import solve_ivp
from torch import Tensor

from text2d3.solvers.model import Denoised, ModelFn, Prediction, from_denoised
from text2d3.solvers.schedules import NoiseSchedule


@dataclass(frozen=True)
class GaussianMixture:
    """A Gaussian mixture in ``D`` dimensions with ``K`` full-covariance components."""

    weights: Float[Tensor, " K"]
    """Mixture weights (normalised on construction)."""
    means: Float[Tensor, "K D"]
    """Component means."""
    covariances: Float[Tensor, "K D D"]
    """Symmetric positive-definite component covariances."""

    def __post_init__(self) -> None:
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        mu = torch.as_tensor(self.means, dtype=torch.float64)
        cov = torch.as_tensor(self.covariances, dtype=torch.float64)
        k, d = mu.shape
        if w.shape != (k,) or cov.shape != (k, d, d):
            raise ValueError(
                f"GaussianMixture: weights {tuple(w.shape)}, means {tuple(mu.shape)}, covariances "
                f"{tuple(cov.shape)} must be [K], [K, D], [K, D, D]"
            )
        torch.linalg.cholesky(cov)  # raises if a covariance is not positive definite
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "covariances", cov)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @staticmethod
    def random(
        dim: int, components: int, *, seed: int = 0, spread: float = 1.0, scale: float = 0.5
    ) -> GaussianMixture:
        """Random mixture: means ``~ N(0, spread^2)``, covariances
        ``scale^2 (A A^T / D + 0.2 I)`` with Gaussian ``A``."""
        gen = torch.Generator().manual_seed(seed)
        means = spread * torch.randn(components, dim, generator=gen, dtype=torch.float64)
        a = torch.randn(components, dim, dim, generator=gen, dtype=torch.float64)
        eye = torch.eye(dim, dtype=torch.float64)
        cov = scale**2 * (a @ a.transpose(1, 2) / dim + 0.2 * eye)
        weights = 0.5 + torch.rand(components, generator=gen, dtype=torch.float64)
        return GaussianMixture(weights, means, cov)

    # ------------------------------------------------------------------ exact posterior
    def posterior(self, x: Float[Tensor, "B D"], alpha: Tensor, sigma: Tensor) -> Denoised:
        """``(E[x0 | x_t], E[eps | x_t])`` for ``x_t = alpha x0 + sigma eps``; ``alpha``, ``sigma``
        are ``[]`` or ``[B]``."""
        a = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1, 1, 1, 1)  # [B|1, 1, 1, 1]
        s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1, 1, 1)
        eye = torch.eye(self.dim, dtype=torch.float64)
        cov = a**2 * self.covariances + s**2 * eye  # [B|1, K, D, D]
        chol = torch.linalg.cholesky(cov)
        resid = x[:, None, :] - a[..., 0] * self.means  # [B, K, D]
        chol = chol.expand(x.shape[0], *chol.shape[1:])
        sol = torch.cholesky_solve(resid[..., None], chol)[..., 0]  # C^{-1} r, [B, K, D]
        log_det = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # [B, K]
        logits = torch.log(self.weights) - 0.5 * ((resid * sol).sum(-1) + log_det)
        resp = torch.softmax(logits, dim=-1)[..., None]  # [B, K, 1]
        x0 = self.means + a[..., 0] * torch.einsum("kde,bke->bkd", self.covariances, sol)
        eps = s[..., 0] * sol
        return Denoised((resp * x0).sum(1), (resp * eps).sum(1))

    def model(self, schedule: NoiseSchedule, prediction: Prediction = "eps") -> ModelFn:
        """The exact model of the given prediction type under ``schedule``."""

        def exact(x: Tensor, t: Tensor) -> Tensor:
            t = torch.as_tensor(t, dtype=torch.float64)
            denoised = self.posterior(x, schedule.alpha(t), schedule.sigma(t))
            return from_denoised(denoised, t, schedule, prediction)

        return exact

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, *, seed: int = 0) -> Float[Tensor, "n D"]:
        """``n`` draws from the mixture."""
        gen = torch.Generator().manual_seed(seed)
        k = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        z = torch.randn(n, self.dim, generator=gen, dtype=torch.float64)
        chol = torch.linalg.cholesky(self.covariances)[k]
        return self.means[k] + (chol @ z[..., None])[..., 0]

    def sample_noised(
        self, n: int, schedule: NoiseSchedule, t: float, *, seed: int = 0
    ) -> Float[Tensor, "n D"]:
        """``n`` draws of ``x_t = alpha(t) x0 + sigma(t) eps`` (the true marginal at ``t``)."""
        x0 = self.sample(n, seed=seed)
        gen = torch.Generator().manual_seed(seed + 1_000_003)
        eps = torch.randn(n, self.dim, generator=gen, dtype=torch.float64)
        tt = torch.tensor(t, dtype=torch.float64)
        return schedule.alpha(tt) * x0 + schedule.sigma(tt) * eps

    # ------------------------------------------------------------------ reference flow map
    def gaussian_flow_map(
        self, x: Float[Tensor, "B D"], schedule: NoiseSchedule, t_from: float, t_to: float
    ) -> Float[Tensor, "B D"]:
        """Closed-form probability-flow map for a single-component mixture."""
        if self.means.shape[0] != 1:
            raise ValueError(f"gaussian_flow_map needs K = 1, got K = {self.means.shape[0]}")
        evals, evecs = torch.linalg.eigh(self.covariances[0])
        t0, t1 = torch.tensor(t_from, dtype=torch.float64), torch.tensor(t_to, dtype=torch.float64)
        a0, s0 = schedule.alpha(t0), schedule.sigma(t0)
        a1, s1 = schedule.alpha(t1), schedule.sigma(t1)
        gain = torch.sqrt((a1**2 * evals + s1**2) / (a0**2 * evals + s0**2))
        mu = self.means[0]
        centred = (x - a0 * mu) @ evecs
        return a1 * mu + (centred * gain) @ evecs.T

    def flow_map(
        self,
        x: Float[Tensor, "B D"],
        schedule: NoiseSchedule,
        t_from: float,
        t_to: float,
        *,
        rtol: float = 1e-10,
        atol: float = 1e-10,
    ) -> Float[Tensor, "B D"]:
        """Reference endpoint of the probability-flow ODE from ``t_from`` to ``t_to``.

        Closed form for one component, otherwise DOP853 in rectified-flow coordinates.
        """
        if self.means.shape[0] == 1:
            return self.gaussian_flow_map(x, schedule, t_from, t_to)
        t0, t1 = torch.tensor(t_from, dtype=torch.float64), torch.tensor(t_to, dtype=torch.float64)
        a0, s0 = float(schedule.alpha(t0)), float(schedule.sigma(t0))
        a1, s1 = float(schedule.alpha(t1)), float(schedule.sigma(t1))
        shape = x.shape

        def velocity(r: float, y: np.ndarray) -> np.ndarray:
            yt = torch.from_numpy(y).reshape(shape)
            rr = torch.tensor(r, dtype=torch.float64)
            x0, eps = self.posterior(yt, 1.0 - rr, rr)
            return (eps - x0).reshape(-1).numpy()

        y0 = (x / (a0 + s0)).reshape(-1).numpy()
        sol = solve_ivp(
            velocity, (s0 / (a0 + s0), s1 / (a1 + s1)), y0, method="DOP853", rtol=rtol, atol=atol
        )
        if not sol.success:
            raise RuntimeError(f"GaussianMixture.flow_map: DOP853 failed: {sol.message}")
        return torch.from_numpy(sol.y[:, -1]).reshape(shape) * (a1 + s1)


def rms_error(x: Float[Tensor, "B ..."], reference: Float[Tensor, "B ..."]) -> float:
    """Root-mean-square over samples of the Euclidean error."""
    return math.sqrt(float(((x - reference) ** 2).reshape(x.shape[0], -1).sum(1).mean()))
