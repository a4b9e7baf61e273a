"""DefaultStrategy decisions on hand-built gradients (Kerbl et al., 2023, Sec. 5)."""

from __future__ import annotations

import math

import pytest
import torch

from splat3d.strategy import DefaultStrategy

W = H = 100


def scene(opacities: list[float], scales: list[float]) -> tuple[torch.nn.ParameterDict,
                                                                torch.optim.Optimizer]:
    n = len(opacities)
    params = torch.nn.ParameterDict({
        "means": torch.arange(3.0 * n).reshape(n, 3),
        "quats": torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
        "log_scales": torch.log(torch.tensor(scales))[:, None].repeat(1, 3),
        "opacity_logits": torch.logit(torch.tensor(opacities)),
        "sh0": torch.zeros(n, 1, 3),
    })
    opt = torch.optim.Adam([{"params": [p], "name": k} for k, p in params.items()], lr=1e-3)
    return params, opt


def info_with(pixel_grads: list[float], visible: list[bool]) -> dict:
    n = len(pixel_grads)
    means2d = torch.zeros(1, n, 2, requires_grad=True)
    means2d.grad = torch.tensor(pixel_grads)[None, :, None] * torch.tensor([0.6, 0.8])
    radii = torch.tensor(visible, dtype=torch.int32)[None, :, None].repeat(1, 1, 2) * 3
    return {"means2d": means2d, "radii": radii, "width": W, "height": H, "n_cameras": 1}


def run(strategy: DefaultStrategy, params, opt, state, steps: range, info: dict) -> dict:
    report: dict = {}
    for step in steps:
        report = strategy.step_post_backward(params, opt, state, step, info)
    return report


def test_grow_and_prune_decisions() -> None:
    # 0: small + high grad -> clone; 1: large + high grad -> split; 2: low grad -> keep;
    # 3: transparent -> prune; 4: high grad but never visible -> keep
    params, opt = scene([0.5, 0.5, 0.5, 0.001, 0.5], [0.005, 0.05, 0.05, 0.05, 0.005])
    strategy = DefaultStrategy(refine_start_iter=0, refine_every=10, reset_every=1000)
    strategy.check_sanity(params, opt)
    state = strategy.initialize_state(scene_scale=1.0)
    high, low = 1e-5, 1e-6  # px; x50 to NDC -> 5e-4 and 5e-5 vs threshold 2e-4
    info = info_with([high, high, low, low, high], [True, True, True, True, False])
    report = run(strategy, params, opt, state, range(1, 11), info)
    assert report == {"duplicated": 1, "split": 1, "pruned": 1}
    # survivors [0, 2, 4] in order, then the clone of 0, then the two children of 1
    assert params["means"].shape[0] == 6
    torch.testing.assert_close(params["means"][:4].detach(),
                               torch.tensor([[0.0, 1, 2], [6, 7, 8], [12, 13, 14], [0, 1, 2]]))
    torch.testing.assert_close(params["log_scales"][4:, 0].detach(),
                               torch.full((2,), math.log(0.05 / 1.6)))
    assert (state["grad2d"] == 0).all() and (state["count"] == 0).all()
    assert state["grad2d"].shape == (6,)
    strategy.check_sanity(params, opt)


def test_average_not_sum_of_gradients() -> None:
    """A gradient just under the threshold every step never triggers growth."""
    params, opt = scene([0.5], [0.005])
    strategy = DefaultStrategy(refine_start_iter=0, refine_every=10, reset_every=1000)
    state = strategy.initialize_state()
    run(strategy, params, opt, state, range(1, 11), info_with([0.9 * 2e-4 / 50], [True]))
    assert params["means"].shape[0] == 1
    run(strategy, params, opt, state, range(11, 21), info_with([1.1 * 2e-4 / 50], [True]))
    assert params["means"].shape[0] == 2


def test_schedule_start_reset_and_stop() -> None:
    params, opt = scene([0.5, 0.5], [0.005, 0.5])
    strategy = DefaultStrategy(refine_start_iter=10, refine_every=10, reset_every=30,
                               refine_stop_iter=60)
    state = strategy.initialize_state(scene_scale=1.0)
    info = info_with([0.0, 0.0], [True, True])
    assert run(strategy, params, opt, state, range(1, 11), info) == {}  # step 10 not > start
    assert "pruned" in run(strategy, params, opt, state, range(11, 21), info)
    assert params["means"].shape[0] == 2  # the big one is not pruned before the first reset
    report = run(strategy, params, opt, state, range(21, 31), info)
    assert report["reset"] == 1
    assert (torch.sigmoid(params["opacity_logits"]) <= 0.0100001).all()
    run(strategy, params, opt, state, range(31, 41), info)
    assert params["means"].shape[0] == 1  # step 40 > reset_every: scale 0.5 > 0.1 pruned
    params["opacity_logits"].data.fill_(-10.0)
    assert run(strategy, params, opt, state, range(60, 101), info) == {}
    assert params["means"].shape[0] == 1  # nothing happens from refine_stop_iter on


def test_pause_after_reset() -> None:
    params, opt = scene([0.001], [0.005])
    strategy = DefaultStrategy(refine_start_iter=0, refine_every=10, reset_every=40,
                               pause_refine_after_reset=15)
    state = strategy.initialize_state()
    run(strategy, params, opt, state, range(1, 11), info_with([0.0], [True]))
    assert params["means"].shape[0] == 1  # step 10 % 40 = 10 < 15: paused
    run(strategy, params, opt, state, range(11, 21), info_with([0.0], [True]))
    assert params["means"].shape[0] == 0


def test_missing_gradient_and_params_are_clear() -> None:
    params, opt = scene([0.5], [0.01])
    strategy = DefaultStrategy()
    state = strategy.initialize_state()
    info = info_with([0.0], [True])
    info["means2d"].grad = None
    with pytest.raises(RuntimeError, match="step_pre_backward"):
        strategy.step_post_backward(params, opt, state, 1, info)
    del params["quats"]
    with pytest.raises(ValueError, match="quats"):
        strategy.check_sanity(params, opt)
