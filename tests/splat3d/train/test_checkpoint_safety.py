"""Run folders are untrusted: checkpoints never run code, corrupt ones give one-line errors or
are skipped for the previous good one, and a run acts on the folder it is given."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from splat3d.cli import main
from splat3d.train import evaluate_run, export_run, train
from splat3d.train.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    plain_data,
    save_checkpoint,
)
from splat3d.train.faults import NonFiniteError
from splat3d.train.run_dir import load_config, load_run_gaussians
from tests.splat3d.train.conftest import interrupt_at, tiny_config


def poison(run: Path, make) -> Path:
    """Replace every checkpoint of ``run`` by the same payload plus an object whose unpickling
    would run a shell command (``malicious_torch_file`` of tests/conftest.py); returns the
    marker file that command would create."""
    for path in list_checkpoints(run):
        marker = make(path, load_checkpoint(path))
    return marker


@pytest.fixture(scope="module")
def trained_run(tiny_scene, disk_scene, tmp_path_factory) -> Path:
    """A 12-step run on the on-disk scene with checkpoints at steps 6 and 12."""
    cfg = tiny_config(tmp_path_factory.mktemp("trained") / "run", steps=12, checkpoint_every=6,
                      data=disk_scene, data_format="nerfstudio", eval_steps=())
    return train(cfg)


@pytest.fixture
def run(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of ``trained_run``."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def test_the_crafted_checkpoint_does_run_code_without_weights_only(run: Path,
                                                                   malicious_torch_file) -> None:
    marker = poison(run, malicious_torch_file)
    torch.load(list_checkpoints(run)[-1], weights_only=False)
    assert marker.exists()  # so the refusal tests below can fail


ENTRY_POINTS = {
    "load_checkpoint": lambda run: load_checkpoint(list_checkpoints(run)[-1]),
    "load_run_gaussians": load_run_gaussians,  # the viewer's path for a run without a PLY
    "evaluate_run": evaluate_run,
    "export_run": export_run,
    "resume": lambda run: train(dataclasses.replace(load_config(run), resume=True)),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_malicious_checkpoint_is_refused_without_running(run: Path, malicious_torch_file,
                                                         entry: str) -> None:
    marker = poison(run, malicious_torch_file)
    with pytest.raises(CheckpointError) as info:
        ENTRY_POINTS[entry](run)
    message = str(info.value)
    assert "refused to load this checkpoint: it refers to the Python object" in message
    assert str(list_checkpoints(run)[-1]) in message and "\n" not in message
    assert not marker.exists()
    assert not (run / "exports").exists() and not (run / "evaluation.json").exists()


def test_cli_refuses_a_malicious_checkpoint_in_one_line(run: Path, malicious_torch_file,
                                                        capsys: pytest.CaptureFixture) -> None:
    marker = poison(run, malicious_torch_file)
    with pytest.raises(SystemExit) as info:
        main(["export", "--run", str(run)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not marker.exists()
    assert err.count("\n") == 1 and "refused to load" in err and "Traceback" not in err


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/other.txt", "no data.pkl here")


CORRUPTIONS = {
    "truncated": _truncated,
    "zero_bytes": lambda p: p.write_bytes(b""),
    "random_bytes": lambda p: p.write_bytes(os.urandom(4096)),
    "zip_without_data": _empty_zip,
    "not_a_dict": lambda p: torch.save([1, 2, 3], p),
    "missing_fields": lambda p: torch.save({"step": 3}, p),
    "bad_step": lambda p: torch.save({**torch.load(p, weights_only=True), "step": -4}, p),
    "short_rng": lambda p: torch.save({**torch.load(p, weights_only=True),
                                       "torch_rng": torch.zeros(7, dtype=torch.uint8)}, p),
    "log_not_a_dict": lambda p: torch.save({**torch.load(p, weights_only=True), "log": [1]}, p),
    "optimizer_without_groups": lambda p: torch.save({**torch.load(p, weights_only=True),
                                                      "optimizer": {"state": {}}}, p),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_checkpoint_is_a_one_line_error(run: Path, kind: str) -> None:
    path = list_checkpoints(run)[-1]
    CORRUPTIONS[kind](path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "PytorchStreamReader" not in message and "Unpickling" not in message


@pytest.mark.parametrize("entry", ["load_run_gaussians", "export_run", "resume"])
def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(run: Path, entry: str) -> None:
    older, newest = list_checkpoints(run)
    expected = load_checkpoint(older)["params"]["means"]
    _truncated(newest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if entry == "load_run_gaussians":
            assert torch.equal(load_run_gaussians(run).means, expected)
        elif entry == "export_run":
            assert export_run(run).is_file()
        else:
            ENTRY_POINTS["resume"](run)
            assert load_checkpoint(list_checkpoints(run)[-1])["step"] == 12
    skipped = [str(w.message) for w in caught if "unusable checkpoint" in str(w.message)]
    assert len(skipped) == 1 and "\n" not in skipped[0]
    assert str(newest) in skipped[0] and skipped[0].endswith(f"using {older.name}")


def test_no_readable_checkpoint_is_a_clear_error(run: Path) -> None:
    for path in list_checkpoints(run):
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="no usable checkpoint in .*checkpoints"):
        load_run_gaussians(run)


def test_every_payload_field_round_trips_with_weights_only(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class Window:
        size: int
        where: Path

    params = torch.nn.ParameterDict({"means": torch.nn.Parameter(torch.randn(4, 3))})
    optimizer = torch.optim.Adam([{"params": [params["means"]], "name": "means"}], eps=1e-15)
    params["means"].grad = torch.randn(4, 3)
    optimizer.step()
    strategy = {"grad2d": torch.rand(4), "count": torch.arange(4), "radii": None,
                "scene_scale": 1.5, "window": Window(3, Path("a/b"))}
    log = {"history": [{"step": 10, "loss": 0.5}], "evals": {10: {"psnr": 20.0, "views": []}},
           "elapsed": 1.25, "range": (1, 2)}
    path = save_checkpoint(tmp_path, 7, params, optimizer, strategy, log)
    back = torch.load(path, weights_only=True)  # what load_checkpoint reads, unvalidated

    assert back["step"] == 7 and torch.equal(back["params"]["means"], params["means"].detach())
    assert torch.equal(back["torch_rng"], torch.get_rng_state())
    saved, state = back["optimizer"], optimizer.state_dict()
    assert saved["param_groups"] == state["param_groups"]
    assert all(torch.equal(saved["state"][0][k], v) for k, v in state["state"][0].items())
    assert back["strategy_state"]["window"] == {"size": 3, "where": "a/b"}
    assert torch.equal(back["strategy_state"]["count"], strategy["count"])
    assert back["log"] == log
    with pytest.raises(TypeError, match=r"checkpoint\['log'\]\['x'\]: cannot store a object"):
        plain_data({"log": {"x": object()}})


def test_resume_and_eval_write_into_the_copy(disk_scene, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "original", steps=8, data=disk_scene, data_format="nerfstudio",
                      eval_steps=())
    with monkeypatch.context() as m:
        interrupt_at(m, 3, signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    before = {p: p.read_bytes() for p in cfg.output_dir.rglob("*") if p.is_file()}
    copy = Path(shutil.copytree(cfg.output_dir, tmp_path / "copy"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(dataclasses.replace(cfg, output_dir=copy, resume=True, seed=9))
        evaluate_run(copy)
        export_run(copy)

    after = {p: p.read_bytes() for p in cfg.output_dir.rglob("*") if p.is_file()}
    assert after == before  # the original is byte-for-byte unchanged
    for name in ("point_cloud.ply", "metrics.json", "evaluation.json", "test/renders",
                 "exports/point_cloud.ply"):
        assert (copy / name).exists(), name
    assert [str(w.message) for w in caught if str(w.message).startswith("resume")] == [
        f"resume: using the saved settings of {copy}; ignoring the new values of seed"]



def _edit_newest(run: Path, edit) -> Path:
    path = list_checkpoints(run)[-1]
    payload = load_checkpoint(path)
    edit(payload["params"])
    torch.save(payload, path)
    return path


def test_a_non_finite_model_is_not_evaluated(run: Path) -> None:
    path = _edit_newest(run, lambda p: p["opacity_logits"].__setitem__(slice(0, 3), float("nan")))
    with pytest.raises(NonFiniteError, match=rf"^{re.escape(str(path))}: nothing to evaluate: "
                                             rf"3 of [\d,]+ Gaussians have non-finite"):
        evaluate_run(run)
    assert not (run / "evaluation.json").exists()


def test_parameters_of_the_wrong_shape_name_the_checkpoint(run: Path) -> None:
    path = _edit_newest(run, lambda p: p.__setitem__("means", p["means"][:, :2].clone()))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: .*means"):
        load_run_gaussians(run)


def test_optimizer_state_that_does_not_fit_is_named_on_resume(run: Path) -> None:
    path = list_checkpoints(run)[-1]
    payload = load_checkpoint(path)
    payload["optimizer"]["param_groups"] = payload["optimizer"]["param_groups"][:2]
    torch.save(payload, path)
    config = dataclasses.replace(load_config(run), resume=True)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: the optimizer state "
                                              rf"does not fit"):
        train(config)
