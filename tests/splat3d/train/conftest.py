"""A tiny rendered scene and a fast training config shared by the trainer tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from splat3d.data import SceneDataset
from splat3d.demo import build_scene, demo_config, render_dataset
from splat3d.train import TrainConfig
from splat3d.train.trainer import torch_threads


@pytest.fixture(scope="session")
def tiny_scene() -> SceneDataset:
    with torch_threads(1):
        return render_dataset(build_scene(seed=0), n_train=6, n_test=2, size=32)


def tiny_config(output_dir: Path, steps: int = 40, **overrides: object) -> TrainConfig:
    """Densification every 10 steps and an opacity reset at 20, so short runs exercise it."""
    cfg = demo_config(output_dir, steps=steps, num_random=400)
    strategy = replace(cfg.strategy, refine_start_iter=5, refine_every=10, reset_every=20,
                       pause_refine_after_reset=0, refine_stop_iter=steps)
    return replace(cfg, strategy=strategy, progress=False, sh_degree_interval=15, threads=1,
                   **overrides)
