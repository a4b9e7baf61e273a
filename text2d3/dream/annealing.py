"""Noise-level (diffusion time) schedules for score distillation: which ``t`` each step uses.

Every schedule maps training progress ``p = step / steps`` in ``[0, 1]`` to a range
``[t_lo(p), t_hi(p)]`` of the prior's continuous time, and each view draws its ``t`` uniformly
from that range. Large ``t`` (heavy noise) lets the prior decide coarse shape and colour; small
``t`` refines detail. DreamFusion (Poole et al. 2022) draws ``t`` uniformly over the whole range
throughout (:class:`UniformTime`, the baseline); StableDreamer (Guo et al. 2023, Sec. 3.2),
like DreamTime (Huang et al. 2023), lowers the range as training goes on -- linearly
(:class:`LinearAnneal`), as a square root of progress (:class:`SqrtAnneal`, which moves fast
early and slowly late), or in steps (:class:`StepAnneal`).

Example:
    >>> LinearAnneal(start=(0.02, 0.98), end=(0.02, 0.5)).bounds(0.5)
    (0.02, 0.74)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

TimeRange = tuple[float, float]


def _check_range(name: str, r: TimeRange) -> None:
    lo, hi = r
    if not 0.0 < lo <= hi < 1.0:
        raise ValueError(f"{name}: time range must satisfy 0 < lo <= hi < 1, got {r}")


def _lerp(a: TimeRange, b: TimeRange, f: float) -> TimeRange:
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


class TimeSchedule:
    """Base of the schedules: :meth:`bounds` per progress, :meth:`sample` draws from it."""

    def bounds(self, progress: float) -> TimeRange:
        """``(t_lo, t_hi)`` at ``progress`` in ``[0, 1]``."""
        raise NotImplementedError

    def sample(self, progress: float, n: int, generator: torch.Generator) -> Float[Tensor, " n"]:
        """``n`` times uniform in :meth:`bounds` (float64)."""
        lo, hi = self.bounds(min(max(progress, 0.0), 1.0))
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


@dataclass(frozen=True)
class UniformTime(TimeSchedule):
    """The baseline: ``t ~ U[t_min, t_max]`` at every step (DreamFusion)."""

    range: TimeRange = (0.02, 0.98)
    """``(t_min, t_max)``."""

    def __post_init__(self) -> None:
        _check_range("UniformTime.range", self.range)

    def bounds(self, progress: float) -> TimeRange:
        return self.range


@dataclass(frozen=True)
class LinearAnneal(TimeSchedule):
    """Both ends move linearly from ``start`` to ``end`` over training."""

    start: TimeRange = (0.02, 0.98)
    """``(t_min, t_max)`` at the first step."""
    end: TimeRange = (0.02, 0.5)
    """``(t_min, t_max)`` at the last step."""

    def __post_init__(self) -> None:
        _check_range("LinearAnneal.start", self.start)
        _check_range("LinearAnneal.end", self.end)

    def bounds(self, progress: float) -> TimeRange:
        return _lerp(self.start, self.end, progress)


@dataclass(frozen=True)
class SqrtAnneal(TimeSchedule):
    """Both ends move from ``start`` to ``end`` as ``sqrt(progress)``: most of the descent
    happens early, the late steps stay at low noise for detail."""

    start: TimeRange = (0.02, 0.98)
    """``(t_min, t_max)`` at the first step."""
    end: TimeRange = (0.02, 0.5)
    """``(t_min, t_max)`` at the last step."""

    def __post_init__(self) -> None:
        _check_range("SqrtAnneal.start", self.start)
        _check_range("SqrtAnneal.end", self.end)

    def bounds(self, progress: float) -> TimeRange:
        return _lerp(self.start, self.end, math.sqrt(progress))


@dataclass(frozen=True)
class StepAnneal(TimeSchedule):
    """Piecewise-constant ranges: ``ranges[i]`` holds from ``milestones[i-1]`` to
    ``milestones[i]`` (progress fractions)."""

    milestones: tuple[float, ...] = (0.5,)
    """Increasing progress fractions in ``(0, 1)`` where the range changes."""
    ranges: tuple[TimeRange, ...] = ((0.02, 0.98), (0.02, 0.5))
    """One more range than milestones."""

    def __post_init__(self) -> None:
        if len(self.ranges) != len(self.milestones) + 1:
            raise ValueError(f"StepAnneal: {len(self.milestones)} milestones need "
                             f"{len(self.milestones) + 1} ranges, got {len(self.ranges)}")
        if list(self.milestones) != sorted(self.milestones) or not all(
                0.0 < m < 1.0 for m in self.milestones):
            raise ValueError(f"StepAnneal.milestones must increase within (0, 1), "
                             f"got {self.milestones}")
        for i, r in enumerate(self.ranges):
            _check_range(f"StepAnneal.ranges[{i}]", r)

    def bounds(self, progress: float) -> TimeRange:
        index = sum(progress >= m for m in self.milestones)
        return self.ranges[index]


Annealing = UniformTime | LinearAnneal | SqrtAnneal | StepAnneal
"""Any of the schedules (the type of :attr:`text2d3.dream.config.StageConfig.annealing`)."""
