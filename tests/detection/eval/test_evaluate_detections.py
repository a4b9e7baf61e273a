"""evaluate_detections end to end: JSON scene files, real ScanNet VoteNet arrays (skipped when
absent), ARKitScenes annotation folders, error messages and the results table."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from detection.data.boxes import Boxes3D
from detection.data.classes import SCANNET_CLASSES
from detection.data.scannet_arrays import list_scannet_array_scenes, load_scannet_array_boxes
from detection.eval.average_precision import evaluate_boxes
from detection.eval.evaluate import evaluate_detections, format_results_table
from detection.eval.iou3d import paired_box_iou_3d_axis_aligned
from detection.eval.scene_files import (
    BoxFileError,
    read_ground_truth_dir,
    read_scene_boxes,
    write_scene_boxes,
)

VOTENET_DIR = Path("/work/shared/data/scannet_mmdet3d/votenet_format_full_scenes")
CHAIR, TABLE = SCANNET_CLASSES.index("chair"), SCANNET_CLASSES.index("table")


def write_dir(folder: Path, scenes: dict[str, Boxes3D], dataset: str = "scannet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for scene, boxes in scenes.items():
        write_scene_boxes(folder / f"{scene}.json", scene, boxes, dataset)
    return folder


def write_json(path: Path, payload) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


def jitter(boxes: Boxes3D, rng: np.random.Generator, drop: float) -> Boxes3D:
    keep = rng.random(len(boxes)) > drop
    params = boxes.params[keep].copy()
    params[:, :3] += rng.normal(0, 0.08, (len(params), 3))
    params[:, 3:6] *= rng.uniform(0.8, 1.2, (len(params), 3))
    return Boxes3D(params, boxes.labels[keep], rng.random(len(params)))


def test_json_round_trip_and_hand_checked_metrics(tmp_path):
    gt = {"scene0000_00": Boxes3D([[0, 0, 0.5, 1, 1, 1, 0], [3, 0, 0.5, 1, 1, 1, 0]],
                                  [CHAIR, CHAIR]),
          "scene0001_00": Boxes3D([[0, 0, 0.5, 2, 1, 1, 0]], [TABLE])}
    pred = {"scene0000_00": Boxes3D([[0, 0, 0.5, 1, 1, 1, 0], [0.05, 0, 0.5, 1, 1, 1, 0],
                                     [3, 0, 0.5, 1, 1, 1, 0]], [CHAIR] * 3, [0.9, 0.8, 0.7]),
            "scene0001_00": Boxes3D.empty(with_scores=True)}
    gt_dir, pred_dir = write_dir(tmp_path / "gt", gt), write_dir(tmp_path / "pred", pred)
    scene, boxes = read_scene_boxes(pred_dir / "scene0000_00.json", "scannet", with_scores=True)
    assert scene == "scene0000_00"
    np.testing.assert_array_equal(boxes.params, pred["scene0000_00"].params)
    np.testing.assert_array_equal(boxes.scores, pred["scene0000_00"].scores)

    res = evaluate_detections(pred_dir, gt_dir, "scannet")
    assert res["per_class"]["chair"] == {"AP@0.25": pytest.approx(5 / 6),
                                         "AP@0.5": pytest.approx(5 / 6),
                                         "num_gt": 2, "num_pred": 3}
    assert res["per_class"]["table"]["AP@0.25"] == 0.0
    assert res["mAP@0.25"] == pytest.approx(5 / 12) and res["num_scenes"] == 2
    table = format_results_table(res)
    assert "chair" in table and "0.8333" in table and table.splitlines()[-1].startswith("mAP")


@pytest.mark.skipif(not VOTENET_DIR.is_dir(), reason=f"{VOTENET_DIR} not found")
def test_real_scannet_arrays_as_ground_truth(tmp_path):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    for scene in list_scannet_array_scenes(VOTENET_DIR):  # only the box files are needed
        shutil.copy(VOTENET_DIR / f"{scene}_bbox.npy", gt_dir)
    gt = read_ground_truth_dir(gt_dir, "scannet")
    assert sorted(gt) == ["scene0000_00", "scene0000_01"]
    assert [len(b) for b in gt.values()] == [27, 29]

    perfect = {s: Boxes3D(b.params, b.labels, np.ones(len(b))) for s, b in gt.items()}
    res = evaluate_detections(write_dir(tmp_path / "perfect", perfect), gt_dir)
    assert res["mAP@0.25"] == res["mAP@0.5"] == 1.0
    assert sum(c["num_gt"] for c in res["per_class"].values()) == 56

    rng = np.random.default_rng(0)
    noisy = {s: jitter(b, rng, drop=0.2) for s, b in gt.items()}
    res = evaluate_detections(write_dir(tmp_path / "noisy", noisy), gt_dir)
    # the oriented-IoU path against the closed-form axis-aligned IoU on the same data
    reference = evaluate_boxes(noisy, gt, SCANNET_CLASSES, iou_fn=paired_box_iou_3d_axis_aligned)
    assert res.keys() == reference.keys()
    assert res["per_class"].keys() == reference["per_class"].keys()
    for name, entry in res["per_class"].items():
        assert entry == pytest.approx(reference["per_class"][name], rel=1e-12)
    assert res["mAP@0.25"] == pytest.approx(reference["mAP@0.25"], rel=1e-12)
    assert 0.3 < res["mAP@0.5"] < res["mAP@0.25"] < 1.0
    assert load_scannet_array_boxes(gt_dir, "scene0000_00").labels.tolist() == \
        gt["scene0000_00"].labels.tolist()


def annotation_entry(label: str, centroid, lengths, yaw: float) -> dict:
    c, s = math.cos(yaw), math.sin(yaw)
    axes = [c, s, 0, -s, c, 0, 0, 0, 1]
    return {"uid": label, "label": label, "segments": {"obbAligned": {
        "centroid": centroid, "axesLengths": lengths, "normalizedAxes": axes}}}


def test_arkitscenes_annotation_folder_with_oriented_boxes(tmp_path):
    gt_dir = tmp_path / "3dod"
    write_json(gt_dir / "Validation" / "41069021" / "41069021_3dod_annotation.json",
               {"data": [annotation_entry("bed", [1, 1, 0.5], [2, 1, 1], 0.6)], "skipped": False})
    write_json(gt_dir / "Validation" / "41069025" / "41069025_3dod_annotation.json",
               {"data": [annotation_entry("tv monitor", [0, 0, 1], [1, 0.2, 0.6], 0.0)],
                "skipped": False})
    pred_dir = tmp_path / "pred"
    # yaw + pi/2 turns the 2 x 1 bed into a cross with itself: IoU 1/3 (TP at 0.25 only);
    # yaw + pi is the same box
    write_json(pred_dir / "a.json", {"scene": "41069021", "boxes": [
        {"center": [1, 1, 0.5], "size": [2, 1, 1], "yaw": 0.6 + math.pi / 2, "label": "bed",
         "score": 0.9}]})
    write_json(pred_dir / "b.json", {"scene": "41069025", "boxes": [
        {"center": [0, 0, 1], "size": [1, 0.2, 0.6], "yaw": math.pi, "label": "tv_monitor",
         "score": 0.8}]})
    res = evaluate_detections(pred_dir, gt_dir, "arkitscenes")
    assert res["per_class"]["bed"]["AP@0.25"] == 1.0 and res["per_class"]["bed"]["AP@0.5"] == 0.0
    assert res["per_class"]["tv_monitor"]["AP@0.5"] == 1.0
    assert res["mAP@0.5"] == 0.5
    with pytest.raises(ValueError, match=r"_3dod_annotation.json files \(arkitscenes\), but "
                                         r"dataset='scannet'"):
        evaluate_detections(pred_dir, gt_dir, "scannet")


GOOD_BOX = {"center": [0, 0, 0], "size": [1, 1, 1], "yaw": 0.0, "label": "chair", "score": 0.5}


@pytest.mark.parametrize("payload, message", [
    ("{oops", r"bad.json: invalid JSON at line 1 column 2"),
    ({"boxes": []}, r"bad.json: expected an object with a non-empty string 'scene'"),
    ({"scene": "s", "boxes": {}}, r"bad.json: expected 'boxes' to be a list"),
    ({"scene": "s", "boxes": [GOOD_BOX, {**GOOD_BOX, "label": "unicorn"}]},
     r"bad.json: boxes\[1\].label: 'unicorn' is not a scannet class; expected one of "
     r"cabinet, bed, chair, .*garbagebin"),
    ({"scene": "s", "boxes": [{**GOOD_BOX, "center": [0, 0]}]},
     r"bad.json: boxes\[0\].center: expected 3 finite numbers, found \[0, 0\]"),
    ({"scene": "s", "boxes": [{**GOOD_BOX, "size": [1, 1, "2"]}]}, r"boxes\[0\].size: expected 3"),
    ({"scene": "s", "boxes": [{**GOOD_BOX, "size": [1, -1, 1]}]}, r"sizes must be >= 0"),
    ({"scene": "s", "boxes": [{k: v for k, v in GOOD_BOX.items() if k != "score"}]},
     r"boxes\[0\].score: expected a finite number, found None"),
    ({"scene": "s", "boxes": [{**GOOD_BOX, "yaw": float("nan")}]}, r"boxes\[0\].yaw"),
])
def test_malformed_prediction_files_are_named(tmp_path, payload, message):
    path = tmp_path / "bad.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(BoxFileError, match=message):
        read_scene_boxes(path, "scannet", with_scores=True)


def test_ground_truth_may_omit_score_and_yaw(tmp_path):
    box = {k: v for k, v in GOOD_BOX.items() if k not in ("score", "yaw")}
    path = write_json(tmp_path / "gt.json", {"scene": "s", "boxes": [box]})
    _, boxes = read_scene_boxes(path, "scannet", with_scores=False)
    assert boxes.scores is None and boxes.params[0, 6] == 0.0


def test_scene_set_and_folder_errors(tmp_path):
    gt = write_dir(tmp_path / "gt", {"a": Boxes3D([[0, 0, 0, 1, 1, 1, 0]], [CHAIR]),
                                     "b": Boxes3D.empty()})
    one = Boxes3D([[0, 0, 0, 1, 1, 1, 0]], [CHAIR], [1.0])
    pred = write_dir(tmp_path / "pred", {"a": one, "c": one})
    with pytest.raises(ValueError, match=r"1 ground-truth scene\(s\) without predictions "
                                         r"\(first: \['b'\]\).*1 predicted scene\(s\) not in"):
        evaluate_detections(pred, gt)
    write_scene_boxes(pred / "again.json", "a", one, "scannet")
    with pytest.raises(BoxFileError, match=r"scene 'a' already read from .*a.json"):
        evaluate_detections(pred, gt)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no prediction \\*.json files"):
        evaluate_detections(empty, gt)
    with pytest.raises(FileNotFoundError, match="no ground truth in"):
        evaluate_detections(pred, empty)
    with pytest.raises(ValueError, match="unknown dataset 'sunrgbd'"):
        evaluate_detections(pred, gt, "sunrgbd")
    np.save(empty / "scene0000_00_bbox.npy", np.zeros((0, 7)))
    with pytest.raises(ValueError, match=r"\*_bbox.npy files \(scannet\), but "
                                         r"dataset='arkitscenes'"):
        read_ground_truth_dir(empty, "arkitscenes")
