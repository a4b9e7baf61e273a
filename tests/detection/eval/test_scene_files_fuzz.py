"""Property-based tests of the scene-file readers (issue #20): for any JSON document or bytes,
``read_scene_boxes`` / ``read_prediction_dir`` give valid boxes or a one-line ``ValueError`` /
``OSError`` naming the file. Fixed budget, derandomized."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.data.classes import SCANNET_CLASSES
from detection.eval.scene_files import read_prediction_dir, read_scene_boxes

FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=10,
)


def maybe(valid, data) -> object:
    """``valid`` nine times in ten, else any JSON value: near-valid documents reach deep code."""
    return valid if data.draw(st.integers(0, 9)) < 9 else data.draw(json_values)


def document(data) -> object:
    boxes = []
    for _ in range(data.draw(st.integers(0, 3))):
        box = {"center": maybe([0.5, -1, 2], data), "size": maybe([1, 0.5, 2], data),
               "yaw": maybe(0.3, data), "label": maybe("chair", data),
               "score": maybe(0.7, data)}
        for key in data.draw(st.lists(st.sampled_from(sorted(box)), max_size=1)):
            del box[key]
        boxes.append(maybe(box, data))
    return maybe({"scene": maybe("scene0000_00", data), "boxes": maybe(boxes, data)}, data)


def file_bytes(data) -> bytes:
    raw = json.dumps(document(data)).encode()
    if data.draw(st.integers(0, 3)) == 3:  # sometimes break the text itself
        raw = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 3))):
            if raw:
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(raw)
    return raw


def assert_names(err: Exception, path: Path) -> None:
    assert isinstance(err, ValueError | OSError), repr(err)
    assert str(path) in str(err) and "\n" not in str(err), str(err)


def assert_valid(boxes, with_scores: bool) -> None:
    assert np.isfinite(boxes.params).all() and (boxes.params[:, 3:6] >= 0).all()
    assert ((boxes.labels >= 0) & (boxes.labels < len(SCANNET_CLASSES))).all()
    assert (boxes.scores is not None) == with_scores
    assert boxes.scores is None or np.isfinite(boxes.scores).all()


@FUZZ
@given(data=st.data(), with_scores=st.booleans())
def test_scene_file_gives_valid_boxes_or_names_the_file(tmp_path, data, with_scores):
    path = tmp_path / "scene.json"
    path.write_bytes(file_bytes(data))
    try:
        scene, boxes = read_scene_boxes(path, "scannet", with_scores)
    except Exception as err:  # noqa: BLE001 - the property is about which errors escape
        assert_names(err, path)
        return
    assert isinstance(scene, str) and scene
    assert_valid(boxes, with_scores)


@FUZZ
@given(data=st.data())
@pytest.mark.filterwarnings("ignore:.*an eval-det metrics file")  # the skip note is expected
def test_prediction_folder_gives_valid_scenes_or_names_a_file(tmp_path, data):
    folder = tmp_path / "pred"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for i in range(data.draw(st.integers(1, 3))):
        (folder / f"{i}.json").write_bytes(file_bytes(data))
    if data.draw(st.booleans()):  # the metrics file eval-det --out may have left here
        (folder / "metrics.json").write_text(json.dumps(
            {"mAP@0.25": math.nan, "per_class": {}, "num_scenes": 1}))
    try:
        scenes = read_prediction_dir(folder, "scannet")
    except Exception as err:  # noqa: BLE001
        assert isinstance(err, ValueError | OSError), repr(err)
        assert str(folder) in str(err) and "\n" not in str(err), str(err)
        return
    for boxes in scenes.values():
        assert_valid(boxes, True)
