"""SceneState: what update() keeps, replaces and checks."""

from __future__ import annotations

import math
import threading

import pytest
import torch

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from splat3d.gaussians import Gaussians  # noqa: E402
from viewer.scene_state import SceneState  # noqa: E402


def test_update_replaces_given_fields_and_keeps_the_rest():
    g1, g2 = Gaussians.random_box(10, seed=0), Gaussians.random_box(20, seed=1)
    state = SceneState(g1)
    first = state.snapshot()
    assert (first.version, first.step, first.num_gaussians) == (0, None, 10)
    assert math.isnan(first.loss) and math.isnan(first.psnr)
    state.update(step=5, metrics={"loss": 0.25, "psnr": 21.5})
    state.update(g2)
    snap = state.snapshot()
    assert snap.version == 2 and snap.step == 5 and snap.num_gaussians == 20
    assert snap.loss == 0.25 and snap.psnr == 21.5
    assert first.num_gaussians == 10, "snapshots are immutable"


def test_update_keeps_a_reference_not_a_copy():
    g = Gaussians.random_box(10).requires_grad_()
    state = SceneState()
    state.update(g)
    stored = state.snapshot().gaussians
    assert not stored.means.requires_grad
    assert stored.means.data_ptr() == g.means.data_ptr()


def test_features_follow_the_gaussian_count():
    g = Gaussians.random_box(10)
    state = SceneState(g, features=torch.rand(10, 4))
    state.update(Gaussians.random_box(10, seed=3))
    assert state.snapshot().features.shape == (10, 4)
    state.update(Gaussians.random_box(12))
    assert state.snapshot().features is None, "stale features are dropped when N changes"
    with pytest.raises(ValueError, match=r"features must be \[N, F\] with N=12"):
        state.update(features=torch.rand(11, 4))


def test_paused_flag():
    state = SceneState()
    assert not state.paused
    state.set_paused(True)
    assert state.paused


def test_concurrent_updates_count_every_version():
    state = SceneState()
    g = Gaussians.random_box(5)

    def producer():
        for step in range(500):
            state.update(g, step=step)

    threads = [threading.Thread(target=producer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.version == 2000
