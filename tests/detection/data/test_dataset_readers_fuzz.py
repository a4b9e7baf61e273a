"""Property-based tests of the ScanNet array and ``.sens`` readers and the ARKitScenes
annotation reader (issue #20): on any bytes, the only allowed outcomes are a valid result or a
``ValueError`` / ``OSError`` whose message names the file. Fixed budgets, derandomized, so CI
runs the same cases every time."""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.data.arkitscenes import read_arkitscenes_annotation
from detection.data.classes import ARKITSCENES_CLASSES, SCANNET_CLASSES
from detection.data.scannet_arrays import load_scannet_array_boxes, load_scannet_array_scene
from detection.data.scannet_sens import SensStream

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ_STRUCTURED = settings(FUZZ, max_examples=60)  # each case draws a whole document or scene
SCENE = "scene0000_00"

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 5.0, 40.0, 41.0, 1e300, -0.0]),
)
class_ids = st.one_of(st.sampled_from([0.0, 3.0, 5.0, 7.0, 39.0, 40.0]), numbers)


@st.composite
def box_rows(draw) -> np.ndarray:
    k = draw(st.integers(0, 4))
    rows = [[*draw(st.lists(numbers, min_size=6, max_size=6)), draw(class_ids)] for _ in range(k)]
    valid = draw(st.booleans())  # half the cases: plausible rows, so the happy path is covered
    if valid:
        rows = [[abs(v) if math.isfinite(v) else 1.0 for v in r[:6]] + [5.0] for r in rows]
    return np.array(rows, dtype=np.float64).reshape(k, 7)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` truncated, overwritten, extended or left alone."""
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cut", "set", "append", "none"]))
        if kind == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "append":
            data += draw(st.binary(max_size=16))
    return bytes(data)


other_arrays = st.sampled_from([
    np.zeros((2, 6)), np.zeros(7), np.array([["a"] * 7]), np.array([{"x": 1}], dtype=object),
    np.zeros((1, 7), np.complex64), np.zeros((1, 7), np.int16), np.zeros((1, 7), bool),
    np.zeros((1, 7), np.float32).T,
])


@st.composite
def bbox_file_bytes(draw) -> bytes:
    source = draw(st.sampled_from(["rows", "other", "random", "npz"]))
    if source == "random":
        return draw(st.binary(max_size=200))
    if source == "npz":
        buf = io.BytesIO()
        np.savez(buf, draw(box_rows()))
        return buf.getvalue()
    array = draw(box_rows()) if source == "rows" else draw(other_arrays)
    if draw(st.booleans()):
        array = np.asfortranarray(array)
    return draw(mutated(npy_bytes(array)))


def assert_names(err: Exception, path: Path) -> None:
    assert isinstance(err, ValueError | OSError), repr(err)
    assert str(path) in str(err) and "\n" not in str(err), str(err)


@FUZZ
@given(data=bbox_file_bytes())
def test_bbox_file_reader_gives_valid_boxes_or_names_the_file(tmp_path, data):
    path = tmp_path / f"{SCENE}_bbox.npy"
    path.write_bytes(data)
    try:
        boxes = load_scannet_array_boxes(tmp_path, SCENE)
    except Exception as err:  # noqa: BLE001 - the property is about which errors escape
        assert_names(err, path)
        return
    assert np.isfinite(boxes.params).all() and (boxes.params[:, 3:6] >= 0).all()
    assert ((boxes.labels >= 0) & (boxes.labels < len(SCANNET_CLASSES))).all()
    assert (boxes.params[:, 6] == 0).all()


SCENE_FILES = {
    "vert": np.zeros((3, 6), np.float32),
    "sem_label": np.array([5, 5, 0], np.uint32),
    "ins_label": np.array([1, 1, 0], np.uint32),
    "bbox": np.array([[0, 0, 0, 1, 1, 1, 5.0]]),
    "bbox_idx": np.array([1]),
    "axis_align_matrix": np.eye(4),
}


@FUZZ_STRUCTURED
@given(name=st.sampled_from(sorted(SCENE_FILES)), data=st.data())
def test_scene_reader_gives_a_valid_scene_or_names_a_file(tmp_path, name, data):
    for other, array in SCENE_FILES.items():
        np.save(tmp_path / f"{SCENE}_{other}.npy", array)
    replacement = data.draw(st.one_of(
        st.sampled_from([np.zeros((3, 7)), np.full((3, 6), np.nan), np.array([1.5, -1, 2**40]),
                         np.zeros(4), np.zeros((4, 4)), np.array([[np.inf] * 4] * 4)]),
        box_rows()))
    path = tmp_path / f"{SCENE}_{name}.npy"
    path.write_bytes(data.draw(mutated(npy_bytes(replacement))))
    try:
        scene = load_scannet_array_scene(tmp_path, SCENE)
    except Exception as err:  # noqa: BLE001
        assert isinstance(err, ValueError | OSError), repr(err)
        assert str(tmp_path) in str(err) and SCENE in str(err), str(err)
        return
    n = len(scene.points)
    assert scene.points.shape == (n, 3) and np.isfinite(scene.points).all()
    assert scene.semantic_ids.shape == scene.instance_ids.shape == (n,)
    assert np.isfinite(scene.boxes.params).all()
    assert scene.box_instance_ids is None or len(scene.box_instance_ids) == len(scene.boxes)


def small_sens() -> bytes:
    """A one-frame raw-colour, zlib-depth ``.sens`` file (2x2 colour, 2x2 depth)."""
    out = struct.pack("<IQ", 4, 1) + b"s"
    k = np.eye(4)
    k[0, 0] = k[1, 1] = 2.0
    out += struct.pack("<16f", *k.reshape(-1)) + struct.pack("<16f", *np.eye(4).reshape(-1))
    out += struct.pack("<16f", *k.reshape(-1)) + struct.pack("<16f", *np.eye(4).reshape(-1))
    out += struct.pack("<ii4IfQ", 0, 1, 2, 2, 2, 2, 1000.0, 1)
    color, depth = bytes(range(12)), zlib.compress(b"\x01\x02" * 4)
    out += struct.pack("<16f", *np.eye(4).reshape(-1)) + struct.pack("<4Q", 0, 0, 12, len(depth))
    return out + color + depth


@FUZZ
@given(data=mutated(small_sens()))
def test_sens_reader_decodes_or_names_the_file(tmp_path, data):
    path = tmp_path / "scene.sens"
    path.write_bytes(data)
    try:
        with SensStream(path) as sens:
            for frame in sens.frames():
                rgb, depth = sens.decode_color(frame), sens.decode_depth(frame)
                h = sens.header
                assert rgb.shape == (h.color_height, h.color_width, 3)
                assert depth.shape == (h.depth_height, h.depth_width)
    except Exception as err:  # noqa: BLE001
        assert_names(err, path)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**400), 10**400), numbers, st.text(
        max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12,
)


def maybe(valid, data) -> object:
    """``valid`` nine times in ten, else any JSON value: near-valid documents reach deep code."""
    return valid if data.draw(st.integers(0, 9)) < 9 else data.draw(json_values)


@FUZZ_STRUCTURED
@given(data=st.data())
def test_arkitscenes_annotation_gives_valid_boxes_or_names_the_file(tmp_path, data):
    entries = []
    for _ in range(data.draw(st.integers(0, 3))):
        yaw = data.draw(st.floats(-4, 4))
        axes = [math.cos(yaw), math.sin(yaw), 0, -math.sin(yaw), math.cos(yaw), 0, 0, 0, 1]
        obb = {"centroid": maybe([0, 1, 2], data), "axesLengths": maybe([1, 2, 0.5], data),
               "normalizedAxes": maybe(axes, data)}
        entries.append(maybe({"label": maybe(data.draw(st.sampled_from(
            ARKITSCENES_CLASSES + ("plant",))), data), "uid": maybe("u", data),
            "segments": maybe({"obbAligned": maybe(obb, data)}, data)}, data))
    document = maybe({"data": maybe(entries, data), "skipped": maybe(False, data)}, data)
    path = tmp_path / "41254925_3dod_annotation.json"
    text = json.dumps(document)
    if data.draw(st.booleans()):
        text = data.draw(mutated(text.encode())).decode("latin1")
    path.write_bytes(text.encode("latin1", errors="replace"))
    try:
        ann = read_arkitscenes_annotation(path)
    except Exception as err:  # noqa: BLE001
        assert_names(err, path)
        return
    assert np.isfinite(ann.boxes.params).all() and (ann.boxes.params[:, 3:6] >= 0).all()
    assert len(ann.uids) == len(ann.boxes) and isinstance(ann.skipped, bool)
