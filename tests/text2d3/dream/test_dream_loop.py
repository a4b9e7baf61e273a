"""The distillation loop's wiring: the densification strategy is driven as the trainer drives
it, the monitor is told and asked, the k-step target and every background kind run."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from splat3d.gaussians import Gaussians
from splat3d.strategy import DefaultStrategy
from text2d3.dream.analytic import AnalyticGuide
from text2d3.dream.background import BackgroundConfig
from text2d3.dream.cameras import CameraConfig
from text2d3.dream.config import StageConfig
from text2d3.dream.loop import distill
from text2d3.procedural import ObjectLabel, make_object

SMALL = CameraConfig(resolution=16)


@pytest.fixture(scope="module")
def guide() -> AnalyticGuide:
    return AnalyticGuide(make_object(ObjectLabel(2, 1), seed=0, num_points=300))


def _init(n: int = 200) -> Gaussians:
    return Gaussians.random_sphere(n, 0.6, sh_degree=0, opacity=0.3, seed=0)


@dataclass
class RecordingStrategy(DefaultStrategy):
    """DefaultStrategy that logs each hook call and what it saw."""

    calls: list[tuple[str, int, bool]] = field(default_factory=list)

    def step_pre_backward(self, params, optimizers, state, step, info) -> None:
        with warnings.catch_warnings():  # .grad of a non-leaf before retain_grad: None
            warnings.simplefilter("ignore")
            self.calls.append(("pre", step, info["means2d"].grad is not None))
        super().step_pre_backward(params, optimizers, state, step, info)

    def step_post_backward(self, params, optimizers, state, step, info) -> dict[str, int]:
        self.calls.append(("post", step, info["means2d"].grad is not None))
        return super().step_post_backward(params, optimizers, state, step, info)


def test_strategy_hooks_are_called_like_the_trainer_calls_them(guide: AnalyticGuide) -> None:
    strategy = RecordingStrategy(refine_start_iter=4, refine_every=5, refine_stop_iter=30,
                                 grow_grad2d=1e-9, reset_every=10**6)
    stage = StageConfig(steps=12, cameras=SMALL, views_per_step=2, strategy=strategy)
    result = distill(_init(), [(stage, guide)], "x", log_every=4)
    expected = [(hook, step, hook == "post") for step in range(12) for hook in ("pre", "post")]
    assert strategy.calls == expected
    # grow_grad2d ~ 0 makes every visible Gaussian grow at steps 5 and 10.
    assert len(result.gaussians) > 200
    assert [h["num_gaussians"] for h in result.history][-1] == len(result.gaussians)


@dataclass
class FakeMonitor:
    updates: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    waits: int = 0

    def update(self, gaussians: Gaussians, *, step: int, metrics: dict[str, float]) -> None:
        self.updates.append((step, len(gaussians), metrics))

    def wait_while_paused(self) -> None:
        self.waits += 1


def test_monitor_and_two_stages(guide: AnalyticGuide) -> None:
    monitor = FakeMonitor()
    stages = [(StageConfig(name="a", steps=6, cameras=SMALL, views_per_step=1), guide),
              (StageConfig(name="b", steps=4, cameras=SMALL, views_per_step=1,
                           background=BackgroundConfig(kind="learned")), guide)]
    result = distill(_init(), stages, "x", log_every=3, monitor=monitor)
    assert monitor.waits == 10
    assert [u[0] for u in monitor.updates] == [3, 6, 9, 10]
    assert [h["stage"] for h in result.history] == ["a", "a", "b", "b"]
    assert [s["name"] for s in result.stages] == ["a", "b"]
    assert all(torch.isfinite(torch.tensor(s["sds"])) for s in result.stages)


@pytest.mark.parametrize(("target_steps", "kind"), [(2, "fixed"), (1, "learned")])
def test_k_step_target_and_learned_background_reduce_the_loss(
        guide: AnalyticGuide, target_steps: int, kind: str) -> None:
    stage = StageConfig(steps=40, cameras=SMALL, views_per_step=2, target_steps=target_steps,
                        target_method="ddim", weighting="snr",
                        background=BackgroundConfig(kind=kind))
    result = distill(_init(), [(stage, guide)], "x", log_every=10)
    losses = [h["sds"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]


def test_random_background_runs(guide: AnalyticGuide) -> None:
    # The analytic data sit on a grey background, so a random one cannot fit; it must run.
    stage = StageConfig(steps=4, cameras=SMALL, views_per_step=2,
                        background=BackgroundConfig(kind="random"))
    result = distill(_init(), [(stage, guide)], "x", log_every=2)
    assert len(result.history) == 2 and torch.isfinite(result.gaussians.means).all()


def test_same_seed_same_result(guide: AnalyticGuide) -> None:
    stage = StageConfig(steps=5, cameras=SMALL, views_per_step=2)
    a = distill(_init(), [(stage, guide)], "x", seed=3).gaussians
    b = distill(_init(), [(stage, guide)], "x", seed=3).gaussians
    c = distill(_init(), [(stage, guide)], "x", seed=4).gaussians
    torch.testing.assert_close(a.means, b.means)
    assert not torch.equal(a.means, c.means)
