"""Noise schedules: the forward process ``x_t = alpha(t) x0 + sigma(t) eps``.

Every schedule exposes the same few maps of a time ``t`` (float64 tensors of any shape):
``alpha``, ``sigma``, their time derivatives, and the half log-SNR
``lambda = log(alpha / sigma)`` with its inverse. The solvers only ever use these, so the
variance-preserving, variance-exploding and flow-matching families are interchangeable.

Families:

* :class:`VPLinear`, :class:`VPCosine`, :class:`VPDiscrete` -- ``alpha^2 + sigma^2 = 1``
  (Ho et al. 2020; Song et al. 2021, "Score-Based Generative Modeling through SDEs", eq. 33;
  Nichol & Dhariwal 2021, eq. 17; the discrete ``alphas_cumprod`` of a trained model is
  interpolated as in Lu et al. 2022, DPM-Solver, App. D).
* :class:`VE` -- ``alpha = 1``, geometric ``sigma`` (Song et al. 2021, eq. 31).
* :class:`RectifiedFlow` -- ``x_t = (1 - t) x0 + t eps`` (Liu et al. 2023; Lipman et al. 2023).

Example:
    >>> s = VPLinear()
    >>> t = torch.tensor([0.5], dtype=torch.float64)
    >>> torch.allclose(s.t_of_lambda(s.lambda_of(t)), t)
    True
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor

Times = Float[Tensor, "..."]


def _as_time(t: Tensor | float) -> Tensor:
    return torch.as_tensor(t, dtype=torch.float64)


class NoiseSchedule(ABC):
    """Interface shared by all schedules; ``t`` runs from ``t_min`` (data) to ``t_max`` (noise)."""

    t_min: float
    t_max: float

    @abstractmethod
    def alpha(self, t: Times) -> Times:
        """Signal scale ``alpha(t)``."""

    @abstractmethod
    def sigma(self, t: Times) -> Times:
        """Noise scale ``sigma(t)``."""

    @abstractmethod
    def d_alpha(self, t: Times) -> Times:
        """``d alpha / dt``."""

    @abstractmethod
    def d_sigma(self, t: Times) -> Times:
        """``d sigma / dt``."""

    @abstractmethod
    def t_of_lambda(self, lam: Times) -> Times:
        """Inverse of :meth:`lambda_of`."""

    def lambda_of(self, t: Times) -> Times:
        """Half log-SNR ``lambda(t) = log(alpha / sigma)`` (DPM-Solver's ``lambda_t``)."""
        t = _as_time(t)
        return torch.log(self.alpha(t)) - torch.log(self.sigma(t))


def _vp_sigma(log_alpha: Tensor) -> Tensor:
    return torch.sqrt(-torch.expm1(2.0 * log_alpha))


def _vp_log_alpha_of_lambda(lam: Tensor) -> Tensor:
    # alpha^2 = sigmoid(2 lambda) for every VP schedule.
    return -0.5 * torch.logaddexp(torch.zeros_like(lam), -2.0 * lam)


class _VP(NoiseSchedule):
    """Shared VP maps; subclasses give ``log_alpha`` and its derivative."""

    @abstractmethod
    def log_alpha(self, t: Times) -> Times:
        """``log alpha(t)``."""

    @abstractmethod
    def d_log_alpha(self, t: Times) -> Times:
        """``d log alpha / dt``."""

    def alpha(self, t: Times) -> Times:
        return torch.exp(self.log_alpha(_as_time(t)))

    def sigma(self, t: Times) -> Times:
        return _vp_sigma(self.log_alpha(_as_time(t)))

    def lambda_of(self, t: Times) -> Times:
        log_alpha = self.log_alpha(_as_time(t))
        return log_alpha - 0.5 * torch.log(-torch.expm1(2.0 * log_alpha))

    def d_alpha(self, t: Times) -> Times:
        t = _as_time(t)
        return self.alpha(t) * self.d_log_alpha(t)

    def d_sigma(self, t: Times) -> Times:
        t = _as_time(t)
        alpha = self.alpha(t)
        return -alpha * self.d_alpha(t) / self.sigma(t)


@dataclass(frozen=True)
class VPLinear(_VP):
    """Continuous VP schedule with linear ``beta(t)`` (Song et al. 2021, eq. 33).

    ``log alpha(t) = -(beta_max - beta_min) t^2 / 4 - beta_min t / 2``.
    """

    beta_min: float = 0.1
    """``beta(0)``."""
    beta_max: float = 20.0
    """``beta(1)``."""
    t_min: float = 1e-3
    """Smallest sampling time (the ODE is stiff at ``t = 0``)."""
    t_max: float = 1.0
    """Largest sampling time."""

    def log_alpha(self, t: Times) -> Times:
        t = _as_time(t)
        return -0.25 * (self.beta_max - self.beta_min) * t**2 - 0.5 * self.beta_min * t

    def d_log_alpha(self, t: Times) -> Times:
        return -0.5 * (self.beta_max - self.beta_min) * _as_time(t) - 0.5 * self.beta_min

    def t_of_lambda(self, lam: Times) -> Times:
        # Solve (b1-b0) t^2 + 2 b0 t = 2 L with L = -2 log alpha, in the cancellation-free form.
        two_l = 2.0 * torch.logaddexp(torch.zeros_like(_as_time(lam)), -2.0 * _as_time(lam))
        db = self.beta_max - self.beta_min
        return two_l / (self.beta_min + torch.sqrt(self.beta_min**2 + db * two_l))


@dataclass(frozen=True)
class VPCosine(_VP):
    """Cosine VP schedule (Nichol & Dhariwal 2021, eq. 17) in continuous time.

    ``alpha(t) = cos(pi/2 (t+s)/(1+s)) / cos(pi/2 s/(1+s))``; ``alpha(1) = 0``, so sampling
    stops at ``t_max = 0.9946`` as in DPM-Solver (Lu et al. 2022, App. D).
    """

    offset: float = 0.008
    """The small offset ``s``."""
    t_min: float = 1e-3
    """Smallest sampling time."""
    t_max: float = 0.9946
    """Largest sampling time (``alpha`` reaches 0 at ``t = 1``)."""

    def _angle(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * (t + self.offset) / (1.0 + self.offset)

    def log_alpha(self, t: Times) -> Times:
        t = _as_time(t)
        return torch.log(torch.cos(self._angle(t))) - math.log(
            math.cos(0.5 * math.pi * self.offset / (1.0 + self.offset))
        )

    def d_log_alpha(self, t: Times) -> Times:
        return -torch.tan(self._angle(_as_time(t))) * 0.5 * math.pi / (1.0 + self.offset)

    def t_of_lambda(self, lam: Times) -> Times:
        log_alpha = _vp_log_alpha_of_lambda(_as_time(lam))
        log_cos0 = math.log(math.cos(0.5 * math.pi * self.offset / (1.0 + self.offset)))
        angle = torch.arccos(torch.exp(log_alpha + log_cos0))
        return 2.0 * (1.0 + self.offset) / math.pi * angle - self.offset


@dataclass(frozen=True)
class VPDiscrete(_VP):
    """VP schedule given by the ``alphas_cumprod`` table of a discrete-time model.

    Discrete step ``n`` (0-based, ``N`` steps) sits at continuous time ``t_n = (n + 1) / N``;
    ``log alpha`` is piecewise linear in ``t`` between the knots (Lu et al. 2022, App. D).
    A network trained on the table is called with ``timestep(t) = N t - 1``.

    Example:
        >>> betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        >>> s = VPDiscrete(torch.cumprod(1 - betas, 0))
        >>> float(s.timestep(torch.tensor(1.0)))
        999.0
    """

    alphas_cumprod: Float[Tensor, " N"] = field(repr=False)
    """``alpha_bar_n`` for ``n = 0 .. N-1`` (decreasing)."""

    def __post_init__(self) -> None:
        table = torch.as_tensor(self.alphas_cumprod, dtype=torch.float64)
        if table.ndim != 1 or table.numel() < 2 or not bool((table[1:] < table[:-1]).all()):
            raise ValueError(
                "VPDiscrete.alphas_cumprod must be a strictly decreasing 1-D table, "
                f"got shape {tuple(table.shape)}"
            )
        object.__setattr__(self, "alphas_cumprod", table)

    @property
    def num_steps(self) -> int:
        return self.alphas_cumprod.numel()

    @property
    def t_min(self) -> float:  # type: ignore[override]
        return 1.0 / self.num_steps

    @property
    def t_max(self) -> float:  # type: ignore[override]
        return 1.0

    @property
    def _knots(self) -> tuple[Tensor, Tensor]:
        n = self.num_steps
        t = torch.arange(1, n + 1, dtype=torch.float64) / n
        return t, 0.5 * torch.log(self.alphas_cumprod)

    def timestep(self, t: Times) -> Times:
        """The model's (fractional) discrete timestep at continuous time ``t``."""
        return self.num_steps * _as_time(t) - 1.0

    def _segment(self, t: Tensor) -> tuple[Tensor, Tensor]:
        knots_t, knots_la = self._knots
        i = torch.clamp(torch.searchsorted(knots_t, t.contiguous()) - 1, 0, self.num_steps - 2)
        slope = (knots_la[i + 1] - knots_la[i]) / (knots_t[i + 1] - knots_t[i])
        return knots_la[i] + slope * (t - knots_t[i]), slope

    def log_alpha(self, t: Times) -> Times:
        return self._segment(_as_time(t))[0]

    def d_log_alpha(self, t: Times) -> Times:
        return self._segment(_as_time(t))[1]

    def t_of_lambda(self, lam: Times) -> Times:
        knots_t, knots_la = self._knots
        log_alpha = _vp_log_alpha_of_lambda(_as_time(lam))
        # log alpha decreases with t: search on the negated (increasing) table.
        neg = -knots_la
        i = torch.searchsorted(neg, (-log_alpha).contiguous()) - 1
        i = torch.clamp(i, 0, self.num_steps - 2)
        frac = (-log_alpha - neg[i]) / (neg[i + 1] - neg[i])
        return knots_t[i] + frac * (knots_t[i + 1] - knots_t[i])


@dataclass(frozen=True)
class VE(NoiseSchedule):
    """Variance-exploding schedule ``sigma(t) = sigma_min (sigma_max/sigma_min)^t``, ``alpha = 1``
    (Song et al. 2021, eq. 31)."""

    sigma_min: float = 0.01
    """``sigma(0)``."""
    sigma_max: float = 50.0
    """``sigma(1)``."""
    t_min: float = 0.0
    """Smallest sampling time."""
    t_max: float = 1.0
    """Largest sampling time."""

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def alpha(self, t: Times) -> Times:
        return torch.ones_like(_as_time(t))

    def sigma(self, t: Times) -> Times:
        return self.sigma_min * torch.exp(self._log_ratio * _as_time(t))

    def d_alpha(self, t: Times) -> Times:
        return torch.zeros_like(_as_time(t))

    def d_sigma(self, t: Times) -> Times:
        return self._log_ratio * self.sigma(t)

    def t_of_lambda(self, lam: Times) -> Times:
        return (-_as_time(lam) - math.log(self.sigma_min)) / self._log_ratio


@dataclass(frozen=True)
class RectifiedFlow(NoiseSchedule):
    """Flow matching / rectified flow path ``x_t = (1 - t) x0 + t eps`` (Liu et al. 2023, eq. 1;
    Lipman et al. 2023, eq. 23 with ``sigma_min = 0``). ``lambda`` is infinite at both ends."""

    t_min: float = 0.0
    """Smallest sampling time (data)."""
    t_max: float = 1.0
    """Largest sampling time (pure noise)."""

    def alpha(self, t: Times) -> Times:
        return 1.0 - _as_time(t)

    def sigma(self, t: Times) -> Times:
        return _as_time(t).clone()

    def d_alpha(self, t: Times) -> Times:
        return -torch.ones_like(_as_time(t))

    def d_sigma(self, t: Times) -> Times:
        return torch.ones_like(_as_time(t))

    def t_of_lambda(self, lam: Times) -> Times:
        return torch.sigmoid(-_as_time(lam))
