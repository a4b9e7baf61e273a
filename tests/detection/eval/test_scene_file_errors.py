"""Scene box files and prediction folders with bad content (issue #20, items 9 and 10): NaN or
infinite numbers, odd labels, unknown fields, unreadable JSON, and the metrics file that
``eval-det --out`` writes into its own ``--pred`` folder."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from detection.data.boxes import Boxes3D
from detection.data.classes import SCANNET_CLASSES
from detection.eval.evaluate import evaluate_detections
from detection.eval.scene_files import (
    BoxFileError,
    is_metrics_file,
    read_ground_truth_dir,
    read_prediction_dir,
    read_scene_boxes,
    write_scene_boxes,
)
from splat3d.cli import main
from splat3d.data.errors import DatasetWarning

CHAIR = SCANNET_CLASSES.index("chair")
BOX = {"center": [0, 0, 0.5], "size": [1, 1, 1], "yaw": 0.0, "label": "chair", "score": 0.5}


def scene_file(path: Path, boxes: list) -> Path:
    path.write_text(json.dumps({"scene": "s", "boxes": boxes}))  # allow_nan: NaN, Infinity
    return path


@pytest.mark.parametrize("field, value", [
    ("center", [0, math.nan, 0]), ("center", [0, 0, math.inf]), ("center", [10**400, 0, 0]),
    ("size", [1, -math.inf, 1]), ("size", [math.nan, 1, 1]), ("yaw", math.nan),
    ("yaw", -math.inf), ("yaw", 10**400), ("score", math.nan), ("score", math.inf),
    ("score", "0.5"), ("score", True), ("center", ["0", 0, 0]),
])
def test_non_finite_or_mistyped_numbers_name_box_and_field(tmp_path, field, value):
    path = scene_file(tmp_path / "pred.json", [BOX, {**BOX, field: value}])
    with pytest.raises(BoxFileError, match=rf"pred.json: boxes\[1\].{field}: expected "):
        read_scene_boxes(path, "scannet", with_scores=True)


def test_ground_truth_with_nan_is_refused_not_ignored(tmp_path):
    path = scene_file(tmp_path / "gt.json", [{**BOX, "center": [math.nan, 0, 0]}])
    with pytest.raises(BoxFileError, match=r"gt.json: boxes\[0\].center: expected 3 finite "
                                           r"numbers, found \[nan, 0, 0\]"):
        read_scene_boxes(path, "scannet", with_scores=False)


@pytest.mark.parametrize("label", [math.inf, 5, None, ["chair"], "Chair"])
def test_label_must_be_a_class_name(tmp_path, label):
    path = scene_file(tmp_path / "pred.json", [{**BOX, "label": label}])
    with pytest.raises(BoxFileError, match=r"pred.json: boxes\[0\].label: .* is not a scannet "
                                           r"class; expected one of cabinet"):
        read_scene_boxes(path, "scannet", with_scores=True)


def test_unknown_box_field_is_refused(tmp_path):
    path = scene_file(tmp_path / "pred.json", [{**BOX, "yaww": 1.2}])
    with pytest.raises(BoxFileError, match=r"pred.json: boxes\[0\]: unknown field\(s\) \['yaww'\]; "
                                           r"expected only center, size, yaw, label, score"):
        read_scene_boxes(path, "scannet", with_scores=True)


@pytest.mark.parametrize("payload, message", [
    (b"[" * 100000, r"pred.json: JSON nested too deeply to read"),
    (b'{"scene": "\xe9", "boxes": []}', r"pred.json: not a UTF-8 text file"),
    (b"", r"pred.json: invalid JSON at line 1"),
    (b'{"scene": "s", "boxes": [{"yaw": ' + b"1" * 5000 + b"}]}",
     r"pred.json: unreadable JSON value"),  # beyond Python's int-conversion digit limit
], ids=["deep", "latin1", "empty", "long-int"])
def test_unreadable_json_is_one_line_naming_the_file(tmp_path, payload, message):
    path = tmp_path / "pred.json"
    path.write_bytes(payload)
    with pytest.raises(BoxFileError, match=message) as info:
        read_scene_boxes(path, "scannet", with_scores=True)
    assert "\n" not in str(info.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_scene_boxes(tmp_path / "missing.json", "scannet", with_scores=True)


def folders(tmp_path: Path) -> tuple[Path, Path]:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    one = Boxes3D(np.array([[0, 0, 0.5, 1, 1, 1, 0.0]]), np.array([CHAIR]))
    write_scene_boxes(gt / "a.json", "a", one, "scannet")
    write_scene_boxes(pred / "a.json", "a", Boxes3D(one.params, one.labels, [0.9]), "scannet")
    return gt, pred


def test_metrics_written_into_the_prediction_folder_are_skipped(tmp_path):
    gt, pred = folders(tmp_path)
    first = evaluate_detections(pred, gt)
    (pred / "metrics.json").write_text(json.dumps(first))
    assert is_metrics_file(first)
    with pytest.warns(DatasetWarning, match=r"metrics.json: skipped, an eval-det metrics file"):
        again = evaluate_detections(pred, gt)
    assert again == first and first["mAP@0.25"] == 1.0
    with pytest.warns(DatasetWarning):
        assert set(read_ground_truth_dir(pred, "scannet")) == {"a"}  # same rule for JSON truth
    (pred / "a.json").unlink()
    with pytest.warns(DatasetWarning), pytest.raises(FileNotFoundError, match="only eval-det"):
        read_prediction_dir(pred, "scannet")


@pytest.mark.parametrize("payload", [{"foo": 1}, [1, 2], "text", None, {"per_class": {}}])
def test_stray_json_in_prediction_folder_is_named(tmp_path, payload):
    gt, pred = folders(tmp_path)
    (pred / "notes.json").write_text(json.dumps(payload))
    with pytest.raises(BoxFileError, match=r"notes.json: not a prediction scene file \(expected "
                                           r"an object with 'scene' and 'boxes'\); every \*.json "
                                           r"in .*pred is read as one"):
        evaluate_detections(pred, gt)


def test_eval_det_cli_out_inside_pred_runs_twice_and_stray_file_is_one_line(tmp_path, capsys):
    gt, pred = folders(tmp_path)
    args = ["eval-det", "--pred", str(pred), "--gt", str(gt), "--out", str(pred / "metrics.json")]
    # The skip note is checked above; here it is silenced, since how main() shows warnings is
    # the CLI's business and must not change what this test sees.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        main(args)
        first = capsys.readouterr().out
        main(args)  # metrics.json is in --pred now
        assert capsys.readouterr().out == first and "mAP" in first
        assert json.loads((pred / "metrics.json").read_text())["mAP@0.5"] == 1.0

        (pred / "notes.json").write_text('{"comment": "stray"}')
        with pytest.raises(SystemExit) as info:
            main(args)
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("splat3d: error: ") and "notes.json: not a prediction scene file" in line
