"""The procedural demo in a tiny configuration."""

from __future__ import annotations

from pathlib import Path

import torch

from splat3d.demo import build_scene, render_dataset, run_demo
from splat3d.train.trainer import torch_threads


def test_scene_renders_objects_on_white(tmp_path: Path) -> None:
    scene = build_scene()
    assert len(scene) > 2000 and torch.isfinite(scene.means).all()
    with torch_threads(1):
        data = render_dataset(scene, n_train=3, n_test=1, size=24)
    assert data.images.shape == (4, 24, 24, 3) and data.splits["test"] == [3]
    assert data.alpha is not None and data.alpha.amax() > 0.99  # the objects are opaque
    assert data.images.std() > 0.1  # not a blank image


def test_run_demo_tiny(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", steps=20, image_size=24, n_train=4, n_test=2,
                      num_random=300, progress=False)
    assert set(result) == {"test_psnr", "test_ssim", "num_gaussians", "seconds",
                           "num_test_views", "run_dir"}
    assert result["test_psnr"] > 5.0 and result["num_gaussians"] > 0
    run = Path(result["run_dir"])
    assert (run / "metrics.json").is_file() and (run / "point_cloud.ply").is_file()
