"""dream(): run folder contents, bad input rejected before any work, nothing half-written;
the splat3d dream command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from configs.dream import DREAM_PRESETS
from splat3d.cli import main
from splat3d.io import load_ply
from splat3d.mesh import MeshConfig
from splat3d.sh import sh_dc_to_rgb
from text2d3.dream import recipe
from text2d3.dream.recipe import dream, initial_gaussians, with_priors, with_steps
from text2d3.priors.embedded import load_embedded

TINY = replace(with_steps(DREAM_PRESETS["fast"][1], 6), num_gaussians=200, progress=False,
               turntable=replace(DREAM_PRESETS["fast"][1].turntable, size=32),
               mesh=MeshConfig(resolution=24, iso_level=0.1))


@pytest.fixture(scope="module")
def priors() -> dict:
    return {"embedded": load_embedded("pixel"), "embedded-latent": load_embedded("latent")}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_run_folder(tmp_path: Path, priors: dict) -> None:
    out = tmp_path / "run"
    result = dream(TINY, "a blue cone", out, priors=priors)
    assert result.run_dir == out.absolute()
    names = sorted(p.name for p in out.iterdir())
    assert {"point_cloud.ply", "turntable.png", "turntable.gif", "config.json",
            "metrics.json"} <= set(names)
    assert _leftovers(tmp_path) == ["run"]  # no temporary folders left beside it
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and [s["steps"] for s in metrics["stages"]] == [4, 2]
    assert metrics["prompt_accuracy"]["views"] == TINY.turntable.views
    assert metrics["mesh"]["file"] == "mesh.glb" or metrics["mesh"]["skipped"]
    assert (out / "mesh.glb").exists() == (metrics["mesh"]["file"] == "mesh.glb")
    loaded = load_ply(out / "point_cloud.ply")
    torch.testing.assert_close(loaded.means, result.gaussians.means)
    assert result.turntable.shape == (TINY.turntable.views, 32, 32, 3)
    config = json.loads((out / "config.json").read_text())
    assert config["prompt"] == "a blue cone"
    assert [s["prior"] for s in config["config"]["stages"]] == ["embedded", "embedded-latent"]


@pytest.mark.parametrize(("prompt", "config", "error", "match"), [
    ("  ", TINY, ValueError, "prompt is empty"),
    ("a pink cube", TINY, ValueError, "unknown word 'pink'.*'red', 'orange'"),
    ("a red cube", with_priors(TINY, latent_prior="sd:/does/not/exist"), OSError,
     "not a local Stable Diffusion folder"),
])
def test_bad_input_leaves_nothing(tmp_path: Path, prompt: str, config, error: type,
                                  match: str) -> None:
    with pytest.raises(error, match=match):
        dream(config, prompt, tmp_path / "run")
    assert _leftovers(tmp_path) == []


def test_zero_steps_and_existing_folder(tmp_path: Path, priors: dict) -> None:
    with pytest.raises(ValueError, match="steps must be a positive number"):
        with_steps(TINY, 0)
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        dream(TINY, "a red cube", out, priors=priors)
    dream(TINY, "a red cube", out, priors=priors, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "metrics.json").exists()
    assert _leftovers(tmp_path) == ["run"]


def test_failure_while_writing_leaves_nothing(tmp_path: Path, priors: dict,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(recipe, "save_turntable", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        dream(TINY, "a red cube", tmp_path / "run", priors=priors)
    assert _leftovers(tmp_path) == []


def test_with_priors_and_steps() -> None:
    cfg = with_priors(DREAM_PRESETS["stabledreamer"][1], "if:/a", "embedded")
    assert [s.prior for s in cfg.stages] == ["if:/a", "embedded-latent"]
    preset = DREAM_PRESETS["stabledreamer"][1]
    cfg = with_steps(preset, 90)
    assert [s.steps for s in cfg.stages] == [60, 30]
    before, after = preset.stages[0].strategy, cfg.stages[0].strategy
    assert (after.refine_start_iter, after.refine_stop_iter, after.refine_every) == (
        round(before.refine_start_iter / 10), round(before.refine_stop_iter / 10),
        round(before.refine_every / 10))
    assert after.prune_opa == before.prune_opa
    base = DREAM_PRESETS["sds-baseline"][1]
    assert len(base.stages) == 1 and base.stages[0].annealing.bounds(1.0) == (0.02, 0.98)


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture) -> None:
    import configs.dream

    monkeypatch.setitem(configs.dream.DREAM_PRESETS, "fast", ("tiny", TINY))
    main(["dream", "a red cube", "--preset", "fast", "--steps", "4", "--seed", "1",
          "--resolution", "24", "--output", str(tmp_path / "run")])
    assert "prompt accuracy" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 4
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["seed"] == 1
    assert [s["cameras"]["resolution"] for s in config["stages"]] == [24, 24]
    with pytest.raises(SystemExit) as err:
        main(["dream", "", "--output", str(tmp_path / "empty")])
    assert err.value.code == 2 and "prompt is empty" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()


def test_cli_with_live_viewer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("viser", reason="the live viewer needs the 'viewer' extra (viser)")
    import configs.dream
    from viewer import Viewer

    updates: list[int] = []
    original = Viewer.update

    def counting(self, gaussians, *, step, metrics):
        updates.append(step)
        return original(self, gaussians, step=step, metrics=metrics)

    monkeypatch.setattr(Viewer, "update", counting)
    monkeypatch.setitem(configs.dream.DREAM_PRESETS, "fast", ("tiny", TINY))
    main(["dream", "a red cube", "--preset", "fast", "--steps", "4", "--viewer",
          "--viewer-port", "0", "--output", str(tmp_path / "run")])
    assert "live viewer at http://127.0.0.1:" in capsys.readouterr().out
    assert updates == [3, 4]  # the end of each stage (3 + 1 steps)
    assert (tmp_path / "run" / "point_cloud.ply").is_file()


def test_initial_gaussians() -> None:
    ball = initial_gaussians(replace(TINY, num_gaussians=500, init_radius=0.4))
    assert len(ball) == 500 and float(ball.means.norm(dim=-1).max()) <= 0.4
    torch.testing.assert_close(ball.opacities, torch.full((500,), TINY.init_opacity))
    torch.testing.assert_close(sh_dc_to_rgb(ball.sh[:, 0]), torch.full((500, 3), 0.5))
    points = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.3]])
    colours = torch.rand(4, 3)
    seeded = initial_gaussians(TINY, points, colours)
    torch.testing.assert_close(seeded.means, points)
    torch.testing.assert_close(sh_dc_to_rgb(seeded.sh[:, 0]), colours)
    with pytest.raises(ValueError, match="seed points"):
        initial_gaussians(TINY, torch.zeros(0, 3))
