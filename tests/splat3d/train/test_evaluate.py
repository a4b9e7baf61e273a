"""Evaluation renders (``test/renders/NAME.png``) are named after dataset frames: hostile or
clashing names stay inside their folders, one file per view."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from splat3d.gaussians import Gaussians
from splat3d.train.evaluate import evaluate_views
from splat3d.train.outputs import save_view_images
from tests.splat3d.train.conftest import tiny_config


def test_eval_renders_stay_inside_and_apart(tiny_scene, tmp_path: Path) -> None:
    test = list(tiny_scene.splits["test"])
    names = list(tiny_scene.names)
    # both names become the file name "a_b" (frame_name flattens sub-folders, which also keeps
    # a climbing name inside); before, the second view overwrote the first
    names[test[0]], names[test[1]] = "a/b", "a_b"
    data = replace(tiny_scene, names=names)
    image_dir = tmp_path / "run" / "test"
    config = tiny_config(tmp_path / "run")
    result = evaluate_views(Gaussians.random_box(50, seed=0), data, config, 0, image_dir)
    assert result["num_views"] == 2
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert len(files) == 4 and all(f.startswith("run/test/") for f in files), files
    assert len({(tmp_path / f).read_bytes() for f in files if "/renders/" in f}) == 2


def test_view_images_of_a_climbing_name_stay_inside(tmp_path: Path) -> None:
    image = torch.full((4, 4, 3), 0.5)
    save_view_images(tmp_path / "a" / "run", "../../../x", image, image)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "a/run/comparisons/x.png", "a/run/renders/x.png"]
