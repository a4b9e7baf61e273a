"""End-to-end training: PSNR rises, outputs are complete, resume equals an uninterrupted run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from splat3d.io import load_ply, load_splat
from splat3d.train import evaluate_run, export_run, train
from splat3d.train.checkpoint import list_checkpoints, load_checkpoint
from tests.splat3d.train.conftest import interrupt_at, tiny_config


def test_training_improves_and_writes_outputs(tiny_scene, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", steps=100, eval_steps=(1,))
    cfg = dataclasses.replace(cfg, strategy=dataclasses.replace(cfg.strategy, reset_every=1000,
                                                                refine_every=25))
    run = train(cfg, dataset=tiny_scene)
    metrics = json.loads((run / "metrics.json").read_text())
    first, final = metrics["evals"]["1"], metrics["final"]
    assert final["psnr"] > first["psnr"] + 3.0, (first["psnr"], final["psnr"])
    assert final["ssim"] > first["ssim"]
    assert len(final["views"]) == 2 and {"name", "psnr", "ssim"} <= set(final["views"][0])
    assert metrics["steps"] == 100 and len(metrics["history"]) == 10
    for name in ("config.json", "point_cloud.ply", "training_curves.png",
                 "test/renders/test_000.png", "test/comparisons/test_001.png"):
        assert (run / name).is_file(), name
    assert [p.name for p in list_checkpoints(run)] == ["step_0000100.pt"]
    g = load_ply(run / "point_cloud.ply")
    assert len(g) == metrics["num_gaussians"] and g.sh_degree == 1
    leftovers = [p for p in run.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert leftovers == []


def test_resume_matches_uninterrupted(tiny_scene, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "a", steps=45, random_background=True)
    full = load_checkpoint(list_checkpoints(train(cfg, dataset=tiny_scene))[-1])

    cfg_b = dataclasses.replace(cfg, output_dir=tmp_path / "b")
    with monkeypatch.context() as m:
        interrupt_at(m, 23)  # after densification at 20 and the opacity reset at 20
        with pytest.raises(KeyboardInterrupt):
            train(cfg_b, dataset=tiny_scene)
    saved = list_checkpoints(cfg_b.output_dir)
    assert [p.name for p in saved] == ["step_0000024.pt"]  # the running step completes
    assert not (cfg_b.output_dir / "metrics.json").exists()
    train(dataclasses.replace(cfg_b, resume=True), dataset=tiny_scene)
    resumed = load_checkpoint(list_checkpoints(cfg_b.output_dir)[-1])

    assert resumed["step"] == full["step"] == 45
    for name, value in full["params"].items():
        assert torch.equal(resumed["params"][name], value), name
    for a, b in zip(full["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(),
                    strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in h.items() if k != "elapsed"} for h in full["log"]["history"]]
    assert strip == [{k: v for k, v in h.items() if k != "elapsed"}
                     for h in resumed["log"]["history"]]


def test_deterministic_with_seed(tiny_scene, tmp_path: Path) -> None:
    runs = [train(tiny_config(tmp_path / str(i), steps=12, seed=3), dataset=tiny_scene)
            for i in range(2)]
    a, b = (load_checkpoint(list_checkpoints(r)[-1])["params"] for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_errors(tiny_scene, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", steps=5)
    with pytest.raises(FileNotFoundError, match="config.json"):
        train(dataclasses.replace(cfg, resume=True), dataset=tiny_scene)
    train(cfg, dataset=tiny_scene)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        train(cfg, dataset=tiny_scene)
    for p in list_checkpoints(cfg.output_dir):
        p.unlink()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(dataclasses.replace(cfg, resume=True), dataset=tiny_scene)
    train(dataclasses.replace(cfg, overwrite=True), dataset=tiny_scene)
    with pytest.raises(ValueError, match="in-memory"):
        evaluate_run(cfg.output_dir)
    with pytest.raises(ValueError, match=r"no split 'val' \(the dataset has 'test', 'train'\);"
                       r" .* eval_split"):
        train(dataclasses.replace(cfg, output_dir=tmp_path / "x", eval_split="val"),
              dataset=tiny_scene)


def test_export_run(tiny_scene, tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path / "run", steps=5), dataset=tiny_scene)
    ply = export_run(run)
    splat = export_run(run, format="splat", out=tmp_path / "scene.splat")
    assert ply == run / "exports" / "point_cloud.ply"
    n = len(load_ply(run / "point_cloud.ply"))
    assert len(load_ply(ply)) == n and len(load_splat(splat)) == n
    with pytest.raises(ValueError, match="format"):
        export_run(run, format="stl")  # type: ignore[arg-type]


def test_export_run_mesh(tiny_scene, tmp_path: Path) -> None:
    import trimesh

    run = train(tiny_config(tmp_path / "run", steps=5), dataset=tiny_scene)
    glb = export_run(run, format="glb", mesh_resolution=24)
    assert glb == run / "exports" / "mesh.glb"
    mesh = trimesh.load(glb, force="mesh")
    assert len(mesh.faces) > 0 and mesh.visual.vertex_colors.shape[0] == len(mesh.vertices)
    with pytest.raises(ValueError, match="does not end in .obj"):
        export_run(run, format="obj", out=tmp_path / "mesh.glb")


def test_images_smaller_than_the_ssim_window_are_refused(tmp_path: Path) -> None:
    from splat3d.demo import build_scene, render_dataset

    small = render_dataset(build_scene(seed=0), n_train=2, n_test=1, size=8)
    with pytest.raises(ValueError, match=r"8x8 px \(--downscale 1\); the SSIM loss needs at "
                                         r"least 11 px"):
        train(tiny_config(tmp_path / "run", steps=5), dataset=small)
