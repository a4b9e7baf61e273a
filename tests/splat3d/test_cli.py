"""The ``splat3d`` command line, run in-process through its entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from splat3d.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SCANNET = SHARED / "scannet_mmdet3d" / "votenet_format_full_scenes"


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "train", "eval", "export", "render", "info", "view", "sample",
                    "eval-det", "dream", "detect"):
        assert command in out


def test_user_errors_are_one_line_messages(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "missing.ply")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "missing.ply" in err and "Traceback" not in err


@pytest.mark.skipif(not SCANNET.is_dir(), reason=f"real ScanNet sample not found at {SCANNET}")
def test_eval_det_perfect_predictions_on_real_scannet_boxes(tmp_path, capsys):
    from detection.data.boxes import Boxes3D
    from detection.eval import read_ground_truth_dir, write_scene_boxes

    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    gt = read_ground_truth_dir(SCANNET, "scannet")
    for scene, boxes in gt.items():
        scored = Boxes3D(boxes.params, boxes.labels, np.linspace(1.0, 0.5, len(boxes)))
        write_scene_boxes(pred_dir / f"{scene}.json", scene, scored, "scannet")
    out = tmp_path / "metrics.json"
    main(["eval-det", "--pred", str(pred_dir), "--gt", str(SCANNET), "--out", str(out)])
    metrics = json.loads(out.read_text())
    assert metrics["mAP@0.25"] == pytest.approx(1.0) and metrics["mAP@0.5"] == pytest.approx(1.0)
    assert "AP@0.25" in capsys.readouterr().out


def test_view_passes_box_files_to_the_viewer(monkeypatch, tmp_path):
    import viewer.launch

    calls = []
    monkeypatch.setattr(viewer.launch, "view", lambda path, **kw: calls.append((path, kw)))
    main(["view", str(tmp_path / "run"), "--boxes", "pred.json", "gt.json",
          "--box-dataset", "arkitscenes", "--min-score", "0.3"])
    (path, kw), = calls
    assert path == tmp_path / "run"
    assert kw["boxes"] == (Path("pred.json"), Path("gt.json"))
    assert kw["box_dataset"] == "arkitscenes" and kw["min_score"] == 0.3


@pytest.mark.parametrize("argv, expected", [
    (["detect", "train", "--data", "rooms", "--output", "det", "--epochs", "3"],
     ("DetectTrain", {"data": Path("rooms"), "output": Path("det"), "epochs": 3})),
    (["detect", "run", "--scene", "runs/r0", "--detector", "det/detector.pt", "--out", "p.json"],
     ("DetectRun", {"scene": Path("runs/r0"), "out": Path("p.json")})),
    (["detect", "bench", "--size", "small", "--seed", "4"],
     ("DetectBench", {"size": "small", "seed": 4})),
])
def test_detect_subcommands_parse_into_their_dataclasses(monkeypatch, argv, expected):
    import detection.cli
    import detection.synthetic.cli

    ran = []
    for cls in (detection.cli.DetectTrain, detection.cli.DetectRun,
                detection.synthetic.cli.DetectBench):
        monkeypatch.setattr(cls, "run", lambda self: ran.append(self))
    main(argv)
    (command,) = ran
    name, fields = expected
    assert type(command).__name__ == name
    assert {k: getattr(command, k) for k in fields} == fields


def _failing_command(error: BaseException):
    def command() -> None:
        raise error

    return command


@pytest.mark.parametrize("error, status, start", [
    (ValueError("bad.json: field 'w'\nexpected > 0, found -1"), 2, "splat3d: error: bad.json"),
    (FileNotFoundError("missing.ply"), 2, "splat3d: error: missing.ply"),
    (KeyboardInterrupt(), 130, "splat3d: interrupted"),
    (KeyboardInterrupt("stopped at step 7; checkpoint written"), 130, "splat3d: stopped at"),
])
def test_anticipated_failures_are_one_line(monkeypatch, capsys, error, status, start):
    import splat3d.cli as cli

    monkeypatch.setitem(cli.COMMANDS, "info", _failing_command(error))
    with pytest.raises(SystemExit) as exit_info:
        main(["info"])
    assert exit_info.value.code == status
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1, err


def test_unexpected_exception_is_one_line_and_saves_the_traceback(monkeypatch, capsys, tmp_path):
    import splat3d.cli as cli

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setitem(cli.COMMANDS, "info", _failing_command(ZeroDivisionError("oops")))
    with pytest.raises(SystemExit) as exit_info:
        main(["info"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError: oops" in err
    saved, = tmp_path.glob("splat3d-traceback-*.txt")
    assert str(saved) in err
    text = saved.read_text()
    assert text.startswith("splat3d info\n") and "Traceback" in text and "raise error" in text


def test_warnings_are_printed_as_one_line(monkeypatch, capsys):
    import warnings

    import splat3d.cli as cli

    def command() -> None:
        warnings.warn("resume: using the saved settings", stacklevel=1)

    monkeypatch.setitem(cli.COMMANDS, "info", command)
    main(["info"])
    assert capsys.readouterr().err == "splat3d: warning: resume: using the saved settings\n"


NO_CUDA = pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is present")


@pytest.mark.parametrize("argv, flag", [
    pytest.param(["sample", "a red cube", "--out", "x.png", "--device", "cuda"], "--device",
                 marks=NO_CUDA),
    pytest.param(["detect", "run", "--scene", "s.ply", "--detector", "d.pt", "--out", "o.json",
                  "--device", "cuda"], "--device", marks=NO_CUDA),
    (["detect", "run", "--scene", "s.ply", "--detector", "d.pt", "--out", "o.json",
      "--nms-iou", "2"], "--nms-iou"),
    (["detect", "run", "--scene", "s.ply", "--detector", "d.pt", "--out", "o.json",
      "--score-threshold", "nan"], "--score-threshold"),
    (["view", "scene.ply", "--min-score", "nan"], "--min-score"),
])
def test_bad_flags_are_refused_before_any_file_is_read(tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"splat3d: error: {flag} ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_demo_reports_once(monkeypatch, capsys):
    import splat3d.demo

    fake = {"test_psnr": 30.0, "test_ssim": 0.9, "num_gaussians": 7, "seconds": 1.0,
            "num_test_views": 6, "run_dir": "outputs/demo"}
    monkeypatch.setattr(splat3d.demo, "run_demo", lambda *a, **k: fake)
    main(["demo"])
    out = capsys.readouterr().out
    assert out.count("demo: test PSNR") == 1 and "on 6 held-out views" in out
