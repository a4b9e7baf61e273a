"""Time schedules: bounds against their formulas, samples inside them, bad ranges rejected."""

from __future__ import annotations

import math

import pytest
import torch

from text2d3.dream.annealing import LinearAnneal, SqrtAnneal, StepAnneal, UniformTime


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_bounds_follow_their_formulas(p: float) -> None:
    start, end = (0.1, 0.9), (0.02, 0.3)
    assert UniformTime((0.1, 0.9)).bounds(p) == (0.1, 0.9)
    lin = LinearAnneal(start, end).bounds(p)
    sq = SqrtAnneal(start, end).bounds(p)
    for k in range(2):
        assert lin[k] == pytest.approx(start[k] + (end[k] - start[k]) * p)
        assert sq[k] == pytest.approx(start[k] + (end[k] - start[k]) * math.sqrt(p))
    step = StepAnneal(milestones=(0.25, 0.5), ranges=((0.1, 0.9), (0.1, 0.6), (0.05, 0.2)))
    expected = (0.1, 0.9) if p < 0.25 else (0.1, 0.6) if p < 0.5 else (0.05, 0.2)
    assert step.bounds(p) == expected


def test_samples_stay_in_range_and_cover_it() -> None:
    g = torch.Generator().manual_seed(0)
    sched = LinearAnneal((0.02, 0.98), (0.02, 0.5))
    t = sched.sample(0.5, 4000, g)
    lo, hi = sched.bounds(0.5)
    assert t.dtype == torch.float64 and float(t.min()) >= lo and float(t.max()) <= hi
    assert float(t.min()) < lo + 0.01 and float(t.max()) > hi - 0.01
    assert float(t.mean()) == pytest.approx((lo + hi) / 2, abs=0.01)
    assert float(sched.sample(7.0, 100, g).max()) <= 0.5  # progress is clamped to [0, 1]


def test_bad_ranges_are_rejected() -> None:
    with pytest.raises(ValueError, match="UniformTime.range"):
        UniformTime((0.5, 0.2))
    with pytest.raises(ValueError, match="LinearAnneal.end"):
        LinearAnneal(end=(0.0, 0.5))
    with pytest.raises(ValueError, match="ranges"):
        StepAnneal(milestones=(0.5,), ranges=((0.1, 0.9),))
    with pytest.raises(ValueError, match="milestones"):
        StepAnneal(milestones=(0.6, 0.3), ranges=((0.1, 0.9),) * 3)
