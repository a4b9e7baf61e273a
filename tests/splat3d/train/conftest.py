"""A tiny rendered scene and a fast training config shared by the trainer tests."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from splat3d import conventions
from splat3d.data import SceneDataset
from splat3d.demo import build_scene, demo_config, render_dataset
from splat3d.fileio import save_png
from splat3d.train import TrainConfig
from splat3d.train import trainer as trainer_module
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


@pytest.fixture(scope="session")
def disk_scene(tiny_scene: SceneDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_scene`` written as a nerfstudio dataset, for what reloads data from disk
    (``evaluate_run``)."""
    root = tmp_path_factory.mktemp("disk_scene")
    c2w = conventions.opencv_to_opengl(tiny_scene.cameras.cam_to_world)
    K = tiny_scene.cameras.K[0]
    frames = []
    for i, name in enumerate(tiny_scene.names):
        save_png(root / "images" / f"{name}.png", tiny_scene.images[i])
        frames.append({"file_path": f"images/{name}.png", "transform_matrix": c2w[i].tolist()})
    size = tiny_scene.images.shape[1]
    split = {s: [f"images/{tiny_scene.names[i]}.png" for i in ids]
             for s, ids in tiny_scene.splits.items()}
    meta = {"camera_model": "PINHOLE", "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]),
            "cx": float(K[0, 2]), "cy": float(K[1, 2]), "w": size, "h": size, "frames": frames,
            "train_filenames": split["train"], "test_filenames": split["test"]}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int,
                 signum: signal.Signals = signal.SIGINT) -> None:
    """Deliver a real signal (SIGINT by default) while step ``step`` (0-based) is computed."""
    original = trainer_module._train_step

    def wrapped(config, data, ids, st, bg):
        if st.step == step:
            signal.raise_signal(signum)
        return original(config, data, ids, st, bg)

    monkeypatch.setattr(trainer_module, "_train_step", wrapped)
