"""Training under faults: killed processes, stop signals, NaN values, reused folders.

The kill tests run training in a child process whose checkpoint or PLY writer is slowed
down inside the write (it writes half the file, says so, then waits), so that SIGKILL lands
while a temporary file is half-written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from splat3d.train import TrainConfig, export_run, train
from splat3d.train import trainer as trainer_module
from splat3d.train.checkpoint import list_checkpoints, load_checkpoint
from splat3d.train.faults import NonFiniteError, TrainingInterrupted, non_finite_params
from tests.splat3d.train.conftest import interrupt_at, tiny_config

REPO = Path(__file__).resolve().parents[3]
STEPS, EVERY = 30, 10

CHILD = """
import sys, time
from pathlib import Path
import torch
from plyfile import PlyData
from splat3d.demo import build_scene, render_dataset
from splat3d.train import train, trainer
from splat3d.train.trainer import torch_threads
from tests.splat3d.train.conftest import tiny_config

run, fault, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def stall(path):
    '''Cut the file just written to half its size, tell the parent, wait to be killed.'''
    path = Path(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    marker.touch()
    time.sleep(120)

real_save, real_ply, real_step = torch.save, PlyData.write, trainer._train_step

def save(obj, f, *args, **kwargs):
    real_save(obj, f, *args, **kwargs)
    if fault == "checkpoint" and obj["step"] == 20:
        stall(f)

def write_ply(self, path):  # inside save_ply's own atomic write: path is the temp file
    real_ply(self, path)
    if fault == "ply":
        stall(path)

def train_step(config, data, ids, st, bg):
    if fault == "sigterm" and st.step == 15:
        marker.touch()
        sent = marker.with_suffix(".sent")  # the parent touches it after the SIGTERM
        for _ in range(6000):  # the SIGTERM arrives during this step, however slow the parent
            if sent.exists():
                break
            time.sleep(0.01)
    return real_step(config, data, ids, st, bg)

torch.save, PlyData.write, trainer._train_step = save, write_ply, train_step
with torch_threads(1):
    scene = render_dataset(build_scene(seed=0), n_train=6, n_test=2, size=32)
try:
    train(tiny_config(run, steps=int(sys.argv[4]), checkpoint_every=int(sys.argv[5])),
          dataset=scene)
except trainer.TrainingInterrupted as err:
    print(err, file=sys.stderr)
    sys.exit(3)
"""


def run_child(run: Path, fault: str, tmp_path: Path, send: signal.Signals) -> tuple[int, str]:
    """Train in a child process; once it reports being inside the faulty write (or step),
    send it ``send``. Returns its exit code and stderr."""
    marker = tmp_path / f"{fault}.inside"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(run), fault, str(marker),
                              str(STEPS), str(EVERY)], cwd=REPO, env=env,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, f"child ended early: {child.communicate()[1]}"
            assert time.monotonic() < deadline, "child never reached the fault point"
            time.sleep(0.02)
        child.send_signal(send)
        marker.with_suffix(".sent").touch()
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


@pytest.fixture(scope="module")
def reference(tiny_scene, tmp_path_factory) -> dict:
    """The final checkpoint of an uninterrupted run."""
    run = train(tiny_config(tmp_path_factory.mktemp("reference") / "run", steps=STEPS,
                            checkpoint_every=EVERY), dataset=tiny_scene)
    return load_checkpoint(list_checkpoints(run)[-1])


def assert_no_half_written_files(run: Path) -> None:
    """Every file under a real name is complete; only ``.*.tmp`` files may be partial."""
    for path in list_checkpoints(run):
        load_checkpoint(path)
    json.loads((run / "config.json").read_text())
    if (run / "point_cloud.ply").exists():
        from splat3d.io import load_ply

        load_ply(run / "point_cloud.ply")


def resume_and_compare(run: Path, tiny_scene, reference: dict) -> None:
    train(tiny_config(run, steps=STEPS, checkpoint_every=EVERY, resume=True), dataset=tiny_scene)
    final = load_checkpoint(list_checkpoints(run)[-1])
    assert final["step"] == STEPS
    for name, value in reference["params"].items():
        assert torch.equal(final["params"][name], value), name
    assert (run / "point_cloud.ply").is_file() and (run / "metrics.json").is_file()
    assert [p for p in run.rglob("*.tmp")] == []  # the killed writer's temp file is gone


@pytest.mark.parametrize("fault", ["checkpoint", "ply"])
def test_sigkill_during_a_write_then_resume(fault: str, tiny_scene, reference: dict,
                                            tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _ = run_child(run, fault, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    temps = list(run.rglob(".*.tmp"))
    assert len(temps) == 1  # the write was really cut short...
    assert_no_half_written_files(run)  # ...and nothing under a real name is partial
    if fault == "checkpoint":  # killed writing step 20: step 10 is the newest good one
        assert [p.name for p in list_checkpoints(run)] == ["step_0000010.pt"]
        assert temps[0].name.startswith(".step_0000020.pt.")
    else:  # killed writing the final PLY, after the final checkpoint
        assert not (run / "point_cloud.ply").exists()
        assert temps[0].name.startswith(".point_cloud.ply.")
    resume_and_compare(run, tiny_scene, reference)


def test_sigterm_writes_a_checkpoint_and_stops_in_one_line(tiny_scene, reference: dict,
                                                           tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, err = run_child(run, "sigterm", tmp_path, signal.SIGTERM)
    assert code == 3, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"SIGTERM: training stopped after step 16 of {STEPS}; checkpoint written to "
        f"{run / 'checkpoints' / 'step_0000016.pt'}; resume=True (--resume) continues the run")
    assert list_checkpoints(run)[-1].name == "step_0000016.pt"
    resume_and_compare(run, tiny_scene, reference)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signals_checkpoint_like_ctrl_c(signum: signal.Signals, tiny_scene,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "run", steps=12)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    interrupt_at(monkeypatch, 4, signum)
    with pytest.raises(TrainingInterrupted) as info:
        train(cfg, dataset=tiny_scene)
    assert str(info.value).startswith(f"{signum.name}: training stopped after step 5 of 12")
    assert [p.name for p in list_checkpoints(cfg.output_dir)] == ["step_0000005.pt"]
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored afterwards


def poison_at(monkeypatch: pytest.MonkeyPatch, step: int, name: str, rows: int) -> None:
    """Set the first ``rows`` Gaussians of parameter ``name`` to NaN before step ``step``
    (0-based) is computed, as an overflowing kernel or a bad update would."""
    original = trainer_module._train_step

    def wrapped(config, data, ids, st, bg):
        if st.step == step:
            with torch.no_grad():
                st.params[name][:rows] = float("nan")
        return original(config, data, ids, st, bg)

    monkeypatch.setattr(trainer_module, "_train_step", wrapped)


def test_nan_parameters_stop_training_without_publishing(tiny_scene, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path / "run", steps=30, checkpoint_every=10, eval_steps=())
    poison_at(monkeypatch, 13, "means", 7)  # culled by the projection: the loss stays finite
    with pytest.raises(NonFiniteError) as info:
        train(cfg, dataset=tiny_scene)
    message = str(info.value)
    good = cfg.output_dir / "checkpoints" / "step_0000010.pt"
    assert message.startswith("step 20: ") and "\n" not in message  # found when logging
    assert re.search(r"^step 20: 7 of [\d,]+ Gaussians have non-finite values: [^;]*'means' "
                     r"in 7", message)  # the NaN means reached the same Gaussians' other parameters
    assert message.endswith(f"training stopped without writing the model (the last good "
                            f"checkpoint is {good})")
    assert ".tmp" not in message
    assert list_checkpoints(cfg.output_dir) == [good]
    assert all(torch.isfinite(v).all() for v in load_checkpoint(good)["params"].values())
    for name in ("point_cloud.ply", "metrics.json"):
        assert not (cfg.output_dir / name).exists(), name


def test_nan_in_a_training_image_stops_before_the_update(tiny_scene, tmp_path: Path) -> None:
    images = tiny_scene.images.clone()
    images[:, 5, 5] = float("nan")  # every training view: the first step sees one
    data = dataclasses.replace(tiny_scene, images=images)
    cfg = tiny_config(tmp_path / "run", steps=10)
    with pytest.raises(NonFiniteError, match=r"^step 1: the loss is nan on training view "
                                             r"'train_\d{3}'; training stopped without writing "
                                             r"the model \(no checkpoint was written\)$"):
        train(cfg, dataset=data)
    assert list(cfg.output_dir.iterdir()) == [cfg.output_dir / "config.json"]


def test_overwrite_clears_the_previous_run(tiny_scene, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", steps=10, checkpoint_every=5)
    run = train(cfg, dataset=tiny_scene)
    (run / "evaluation.json").write_text("{}")
    (run / "exports").mkdir()
    (run / "exports" / "point_cloud.splat").write_bytes(b"old")
    (run / "test" / ".stale.png.abcd1234.tmp").write_bytes(b"half")
    (run / "notes.txt").write_text("the user's")
    train(dataclasses.replace(cfg, max_steps=3, overwrite=True, eval_steps=()),
          dataset=tiny_scene)
    assert [p.name for p in list_checkpoints(run)] == ["step_0000003.pt"]
    assert not (run / "evaluation.json").exists() and not (run / "exports").exists()
    assert sorted(p.name for p in (run / "test" / "renders").iterdir()) == \
        ["test_000.png", "test_001.png"]
    assert list(run.rglob("*.tmp")) == []
    assert (run / "notes.txt").read_text() == "the user's"
    assert json.loads((run / "metrics.json").read_text())["steps"] == 3


def test_overwrite_refuses_a_folder_that_is_not_a_run(tiny_scene, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    cfg = tiny_config(folder, steps=3, overwrite=True)
    with pytest.raises(FileExistsError, match=r"photos is not empty and has no config\.json"):
        train(cfg, dataset=tiny_scene)
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(tiny_config(empty, steps=3, overwrite=True), dataset=tiny_scene) == empty


@pytest.mark.parametrize(("field", "value"), [("max_steps", 0), ("max_steps", -5),
                                                ("checkpoint_every", 0)])
def test_step_counts_must_be_positive(field: str, value: int) -> None:
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ValueError, match=rf"^{field} \({flag}\) must be a whole number of "
                                         rf"steps >= 1; got {value}$"):
        TrainConfig(**{field: value})


def test_a_non_finite_checkpoint_is_never_exported(tiny_scene, tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path / "run", steps=5), dataset=tiny_scene)
    path = list_checkpoints(run)[-1]
    payload = load_checkpoint(path)
    payload["params"]["sh0"][:2] = float("inf")  # say, a checkpoint from an older version
    torch.save(payload, path)
    target = run / "exports" / "point_cloud.ply"
    with pytest.raises(NonFiniteError, match=rf"^{re.escape(str(target))}: refusing to write a "
                                             rf"model in which 2 of [\d,]+ Gaussians have "
                                             rf"non-finite 'sh' values$"):
        export_run(run)
    assert not (run / "exports").exists() or list((run / "exports").iterdir()) == []


def test_non_finite_params_counts_gaussians_and_groups() -> None:
    params = {"means": torch.zeros(5, 3), "shN": torch.zeros(5, 15, 3)}
    assert non_finite_params(params) is None
    params["shN"][1, 4, 2] = float("nan")
    assert non_finite_params(params) == "1 of 5 Gaussians have non-finite 'shN' values"
    params["means"][1:3, 0] = float("-inf")
    assert non_finite_params(params) == ("2 of 5 Gaussians have non-finite values: 'means' in 2, "
                                         "'shN' in 1")
    assert non_finite_params({"huge": torch.full((4, 3), 3e38)}) is None  # the sum overflows


def test_an_ignored_hangup_stays_ignored() -> None:
    """Under ``nohup`` SIGHUP is ignored on purpose: training must not stop when the terminal
    closes, while SIGTERM still checkpoints."""
    from splat3d.train.faults import deferred_stop_signals

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with deferred_stop_signals("resume later") as stop:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert not stop.is_set()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
