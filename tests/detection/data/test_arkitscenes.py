"""ARKitScenes 3DOD annotation reader on fixtures in the official JSON layout, checked
against box corners computed the way the official benchmark scripts compute them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from detection.data.arkitscenes import (
    normalize_label,
    read_arkitscenes_annotation,
    read_arkitscenes_split,
)
from detection.data.boxes import bev_corners
from detection.data.classes import ARKITSCENES_CLASSES

SPLIT_CSV = Path("/work/shared/data/arkitscenes_metadata/3dod_train_val_splits.csv")


def yaw_axes(yaw: float, flip_vertical: bool = False) -> list[float]:
    c, s = math.cos(yaw), math.sin(yaw)
    up = -1.0 if flip_vertical else 1.0
    return [c, s, 0.0, -s * up, c * up, 0.0, 0.0, 0.0, up]  # rows: box axes in world


def entry(label: str, centroid, lengths, axes, uid: str = "u") -> dict:
    return {"uid": uid, "label": label, "modelId": "", "children": [], "objectId": 1,
            "attributes": {}, "hierarchy": 0, "isInGroup": False, "labelType": "object",
            "segments": {"obbAligned": {"centroid": list(centroid), "axesLengths": list(lengths),
                                        "normalizedAxes": list(axes)}}}


def write_annotation(folder: Path, video_id: str, entries: list[dict],
                     skipped: bool = False) -> Path:
    path = folder / f"{video_id}_3dod_annotation.json"
    path.write_text(json.dumps({"data": entries, "stats": {}, "comment": "", "confirm": True,
                                "skipped": skipped}))
    return path


def official_corners(centroid, lengths, axes) -> np.ndarray:
    """Corners as the official ``compute_box_3d``: rotmat^T applied to the half-size corners."""
    rot = np.asarray(axes).reshape(3, 3)
    lx, ly, lz = np.asarray(lengths) / 2
    local = np.array([[lx, lx, -lx, -lx, lx, lx, -lx, -lx], [ly, -ly, -ly, ly, ly, -ly, -ly, ly],
                      [lz, lz, lz, lz, -lz, -lz, -lz, -lz]])
    return (rot.T @ local).T + np.asarray(centroid)


@pytest.mark.parametrize("yaw", [0.0, 0.4, -2.5, math.pi / 2])
@pytest.mark.parametrize("flip_vertical", [False, True])
def test_boxes_reproduce_official_corners(tmp_path, yaw, flip_vertical):
    centroid, lengths = [1.0, -2.0, 0.7], [1.6, 0.6, 0.9]
    axes = yaw_axes(yaw, flip_vertical)
    path = write_annotation(tmp_path, "41254925", [entry("bed", centroid, lengths, axes)])
    ann = read_arkitscenes_annotation(path)
    assert ann.video_id == "41254925" and not ann.skipped and ann.uids == ("u",)
    params = ann.boxes.params
    assert ARKITSCENES_CLASSES[ann.boxes.labels[0]] == "bed"
    np.testing.assert_allclose(params[0, :6], centroid + lengths)
    corners = official_corners(centroid, lengths, axes)
    # the same four BEV corners (as a set) and the same height interval
    ours = bev_corners(params)[0]
    theirs = corners[:4, :2]
    dist = np.linalg.norm(ours[:, None] - theirs[None], axis=-1)
    np.testing.assert_allclose(dist.min(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose([corners[:, 2].min(), corners[:, 2].max()],
                               [0.7 - 0.45, 0.7 + 0.45], atol=1e-12)
    # the official corners_to_boxes heading is the clockwise angle: -yaw
    heading = math.atan2(corners[0, 0] - corners[1, 0], corners[0, 1] - corners[1, 1])
    if not flip_vertical:
        assert math.remainder(heading + params[0, 6], 2 * math.pi) == pytest.approx(0, abs=1e-12)


def test_labels_are_normalised_and_unknown_ones_skipped(tmp_path):
    axes = yaw_axes(0.1)
    entries = [
        entry("tv monitor", [0, 0, 1], [1, 0.1, 0.6], axes, "a"),
        entry("plant", [1, 1, 0], [0.3, 0.3, 1], axes, "b"),
        entry("chair", [2, 1, 0], [0.5, 0.5, 1], axes, "c"),
    ]
    ann = read_arkitscenes_annotation(write_annotation(tmp_path, "47331606", entries, True))
    assert [ARKITSCENES_CLASSES[i] for i in ann.boxes.labels] == ["tv_monitor", "chair"]
    assert ann.uids == ("a", "c") and ann.ignored_labels == ("plant",) and ann.skipped
    assert normalize_label("dish-washer/x y") == "dish_washer_x_y"
    empty = read_arkitscenes_annotation(write_annotation(tmp_path, "40753679", []))
    assert len(empty.boxes) == 0


def test_malformed_annotations_name_file_and_entry(tmp_path):
    good = entry("sofa", [0, 0, 0], [2, 1, 1], yaw_axes(0.0))
    cases = [
        ({**good, "segments": {}}, r"data\[0\]: missing field 'obbAligned'"),
        (entry("sofa", [0, 0], [2, 1, 1], yaw_axes(0.0)), r"centroid: expected 3 finite numbers"),
        (entry("sofa", [0, 0, 0], [2, 1, 1], [1, 0, 0, 0, 1, 0, 0, 0, 2]), "not orthonormal"),
        (entry("sofa", [0, 0, 0], [2, -1, 1], yaw_axes(0.0)), "negative axesLengths"),
    ]
    tilt = math.radians(20)
    tilted = [1, 0, 0, 0, math.cos(tilt), math.sin(tilt), 0, -math.sin(tilt), math.cos(tilt)]
    cases.append((entry("sofa", [0, 0, 0], [2, 1, 1], tilted), r"20.0 deg from vertical"))
    for bad, message in cases:
        path = write_annotation(tmp_path, "41069021", [good, bad])
        with pytest.raises(ValueError, match=r"41069021_3dod_annotation.json: data\[1\]"):
            read_arkitscenes_annotation(path)
        with pytest.raises(ValueError, match=message.replace(r"data\[0\]", r"data\[1\]")):
            read_arkitscenes_annotation(path)
    path = tmp_path / "41069025_3dod_annotation.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="41069025_3dod_annotation.json: invalid JSON at line 1"):
        read_arkitscenes_annotation(path)


def test_split_fixture_and_missing_column(tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_text("video_id,visit_id,fold\n1,NA,Training\n2,7,Validation\n3,7,Training\n")
    assert read_arkitscenes_split(csv) == {"Training": ("1", "3"), "Validation": ("2",)}
    csv.write_text("video_id,visit_id\n1,NA\n")
    with pytest.raises(ValueError, match=r"split.csv: missing column\(s\) \['fold'\]"):
        read_arkitscenes_split(csv)


@pytest.mark.skipif(not SPLIT_CSV.exists(), reason=f"{SPLIT_CSV} not found")
def test_official_split_counts():
    split = read_arkitscenes_split(SPLIT_CSV)
    assert {k: len(v) for k, v in split.items()} == {"Training": 4498, "Validation": 549}
    assert "41254925" in split["Training"] and "41069021" in split["Validation"]
    assert not set(split["Training"]) & set(split["Validation"])
