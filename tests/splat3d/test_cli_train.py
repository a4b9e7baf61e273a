"""``splat3d train / eval / export`` on a small nerfstudio-format scene written here."""

from __future__ import annotations

import json

import pytest

from splat3d import conventions
from splat3d.cli import main
from splat3d.demo import build_scene, render_dataset
from splat3d.fileio import save_png
from splat3d.io import load_ply


@pytest.fixture(scope="module")
def nerfstudio_scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("scene")
    data = render_dataset(build_scene(seed=1), n_train=8, n_test=2, size=32)
    c2w = conventions.opencv_to_opengl(data.cameras.cam_to_world)
    K = data.cameras.K[0]
    frames = []
    for i, name in enumerate(data.names):
        save_png(root / "images" / f"{name}.png", data.images[i])
        frames.append({"file_path": f"images/{name}.png", "transform_matrix": c2w[i].tolist()})
    meta = {"camera_model": "PINHOLE", "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]),
            "cx": float(K[0, 2]), "cy": float(K[1, 2]), "w": 32, "h": 32, "frames": frames,
            "train_filenames": [f"images/{n}.png" for n in data.names[:8]],
            "test_filenames": [f"images/{n}.png" for n in data.names[8:]]}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def test_train_eval_export(nerfstudio_scene, tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "--data", str(nerfstudio_scene), "--preset", "fast", "--max-steps", "30",
          "--output", str(run), "--backend", "torch", "--data-format", "nerfstudio"])
    assert (run / "point_cloud.ply").is_file() and (run / "metrics.json").is_file()
    main(["eval", "--run", str(run)])
    assert "PSNR" in capsys.readouterr().out
    assert (run / "evaluation.json").is_file()
    main(["export", "--run", str(run), "--format", "splat", "--out", str(tmp_path / "s.splat")])
    assert (tmp_path / "s.splat").stat().st_size % 32 == 0
    main(["export", "--run", str(run)])
    assert len(load_ply(run / "exports" / "point_cloud.ply")) > 0


def test_train_refuses_to_clobber_a_run(nerfstudio_scene, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "old.txt").parent.mkdir(parents=True)
    (run / "old.txt").write_text("keep me")
    with pytest.raises(SystemExit):
        main(["train", "--data", str(nerfstudio_scene), "--max-steps", "5", "--output", str(run)])
    assert (run / "old.txt").read_text() == "keep me"


def test_train_with_live_viewer(nerfstudio_scene, tmp_path, capsys):
    pytest.importorskip("viser", reason="the live viewer needs the 'viewer' extra (viser)")
    run = tmp_path / "run"
    main(["train", "--data", str(nerfstudio_scene), "--preset", "fast", "--max-steps", "20",
          "--output", str(run), "--backend", "torch", "--viewer", "--viewer-port", "0"])
    out = capsys.readouterr().out
    assert "live viewer at http://127.0.0.1:" in out
    assert (run / "point_cloud.ply").is_file()


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_train_rejects_a_non_positive_step_count(nerfstudio_scene, tmp_path, capsys, steps):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(nerfstudio_scene), "--max-steps", steps,
              "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert f"max_steps (--max-steps) must be a whole number of steps >= 1; got {steps}" in err
    assert not (tmp_path / "run").exists()


def test_train_checkpoint_every(nerfstudio_scene, tmp_path):
    run = tmp_path / "run"
    main(["train", "--data", str(nerfstudio_scene), "--preset", "fast", "--max-steps", "4",
          "--checkpoint-every", "3", "--output", str(run), "--backend", "torch"])
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        ["step_0000003.pt", "step_0000004.pt"]
