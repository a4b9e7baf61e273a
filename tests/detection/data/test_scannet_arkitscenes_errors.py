"""Corrupt dataset files from issue #20 (items 9 and 10): each is a one-line ``ValueError`` /
``OSError`` naming the file and the field, validated before anything is allocated, and no bad
value (NaN box, ``inf`` class id) is silently accepted."""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detection.data.arkitscenes import read_arkitscenes_annotation, read_arkitscenes_split
from detection.data.arkitscenes_frames import read_arkitscenes_frames, read_pincam, read_traj
from detection.data.scannet_arrays import load_scannet_array_boxes, load_scannet_array_scene
from detection.data.scannet_raw import (
    read_aggregation,
    read_axis_alignment,
    read_label_map,
    read_mesh_vertices,
    read_segment_indices,
)
from detection.data.scannet_sens import (
    MAX_IMAGE_SIDE,
    SensFormatError,
    SensStream,
    read_sens_dataset,
)
from splat3d.npyfile import read_npy

SCENE = "scene0000_00"
CHAIR = [1.0, 2.0, 0.5, 0.4, 0.4, 1.0, 5]  # VoteNet row: centre, size, NYU40 id 5 (chair)


def bbox_file(folder: Path, payload: bytes | np.ndarray) -> Path:
    path = folder / f"{SCENE}_bbox.npy"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        np.save(path, payload)
    return path


# ---- ScanNet .npy arrays ---------------------------------------------------------------------

def test_valid_bbox_file_still_reads(tmp_path):
    bbox_file(tmp_path, np.array([CHAIR], dtype=np.float64))
    boxes = load_scannet_array_boxes(tmp_path, SCENE)
    np.testing.assert_array_equal(boxes.params, [[1.0, 2.0, 0.5, 0.4, 0.4, 1.0, 0.0]])


@pytest.mark.parametrize("payload, message", [
    (b"", r"_bbox.npy: empty file; expected a .npy array"),
    (b"\x93NUM", r"_bbox.npy: not a .npy file"),
    (b"hello world, not an array", r"_bbox.npy: not a .npy file \(first bytes"),
    (b"\x93NUMPY\x09\x00", r"_bbox.npy: .npy format version \(9, 0\); expected 1.0 or 2.0"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", r"_bbox.npy: malformed .npy header"),
])
def test_bbox_file_that_is_not_an_npy_array(tmp_path, payload, message):
    bbox_file(tmp_path, payload)
    with pytest.raises(ValueError, match=message):
        load_scannet_array_boxes(tmp_path, SCENE)


def test_npz_saved_under_an_npy_name(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, bbox=np.array([CHAIR]))
    bbox_file(tmp_path, buf.getvalue())
    with pytest.raises(ValueError, match=r"scene0000_00_bbox.npy: a .npz/zip archive, not a .npy"):
        load_scannet_array_boxes(tmp_path, SCENE)


class _Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / f"{SCENE}_bbox.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"_bbox.npy: holds Python objects .*refused"):
        load_scannet_array_boxes(tmp_path, SCENE)
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # the payload is live: loading it the unsafe way runs it
    assert marker.exists()


def test_header_claiming_huge_shape_is_refused_before_allocating(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000, 7), }"
    header = header.ljust(118) + "\n"
    path = bbox_file(tmp_path, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
                     + header.encode("latin1") + b"\0" * 56)
    with pytest.raises(ValueError, match=r"_bbox.npy: header shape \(10000000000000, 7\) of "
                                         r"float64 needs 560000000000000 data bytes, found 56"):
        read_npy(path)


@pytest.mark.parametrize("cut, extra", [(8, b""), (0, b"\0" * 8)])
def test_truncated_or_padded_array(tmp_path, cut, extra):
    path = bbox_file(tmp_path, np.array([CHAIR]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut] + extra)
    with pytest.raises(ValueError, match=r"_bbox.npy: header shape \(1, 7\) of float64 needs "
                                         r"56 data bytes, found"):
        load_scannet_array_boxes(tmp_path, SCENE)


@pytest.mark.parametrize("array, message", [
    (np.array([["a"] * 7]), r"dtype <U1; expected a numeric array"),
    (np.zeros((1, 7), dtype=np.complex128), r"dtype complex128; expected a numeric"),
    (np.zeros(1, dtype=[("x", "f4")]), r"expected a numeric array"),
    (np.zeros((2, 6)), r"expected box rows of shape \[K, 7\], found \(2, 6\)"),
    (np.zeros(7), r"expected box rows of shape \[K, 7\], found \(7,\)"),
])
def test_wrong_dtype_or_shape(tmp_path, array, message):
    bbox_file(tmp_path, array)
    with pytest.raises(ValueError, match=f"{SCENE}_bbox.npy: .*{message}"):
        load_scannet_array_boxes(tmp_path, SCENE)


@pytest.mark.parametrize("class_id", [math.inf, -math.inf, math.nan, -5.0, 5.5, 41.0, 1e300])
def test_bad_class_id_names_file_row_and_field(tmp_path, class_id):
    rows = np.array([CHAIR, CHAIR])
    rows[1, 6] = class_id
    bbox_file(tmp_path, rows)
    with pytest.raises(ValueError, match=r"_bbox.npy: row 1 class id \(column 6\): expected an "
                                         r"integer NYU40 id in 0..40, found"):
        load_scannet_array_boxes(tmp_path, SCENE)


@pytest.mark.parametrize("column, value, field", [
    (0, math.nan, "center"), (2, math.inf, "center"), (3, math.nan, "size"),
    (5, -math.inf, "size"), (4, -0.1, "size"),
])
def test_non_finite_or_negative_box_values(tmp_path, column, value, field):
    rows = np.array([CHAIR, CHAIR, CHAIR])
    rows[2, column] = value
    bbox_file(tmp_path, rows)
    expected = "finite numbers >= 0" if field == "size" else "finite numbers"
    with pytest.raises(ValueError, match=rf"_bbox.npy: row 2 {field}: expected {expected}"):
        load_scannet_array_boxes(tmp_path, SCENE)


def test_bad_box_rows_are_refused_even_when_their_class_is_dropped(tmp_path):
    rows = np.array([CHAIR, [math.nan, 0, 0, 1, 1, 1, 40]])  # 40: not a benchmark class
    bbox_file(tmp_path, rows)
    with pytest.raises(ValueError, match=r"row 1 center"):
        load_scannet_array_boxes(tmp_path, SCENE)


def scene_files(folder: Path, n: int = 4) -> None:
    verts = np.zeros((n, 6), dtype=np.float32)
    np.save(folder / f"{SCENE}_vert.npy", verts)
    np.save(folder / f"{SCENE}_sem_label.npy", np.full(n, 5, dtype=np.uint32))
    np.save(folder / f"{SCENE}_ins_label.npy", np.ones(n, dtype=np.uint32))
    np.save(folder / f"{SCENE}_bbox.npy", np.array([CHAIR]))


@pytest.mark.parametrize("name, array, message", [
    ("vert", np.array([[0, 0, math.nan, 0, 0, 0]] * 4, np.float32),
     r"_vert.npy: xyz \(float32, aligned\) at index \(0, 2\) is nan; expected finite"),
    ("vert", np.array([[0, 0, 1e39, 0, 0, 0]] * 4), r"_vert.npy: xyz .* at index \(0, 2\) is inf"),
    ("vert", np.array([[0, 0, 0, 0, -np.inf, 0]] * 4), r"_vert.npy: rgb at index \(0, 1\) is -inf"),
    ("sem_label", np.array([5, 5, -1, 5]), r"_sem_label.npy: sem_label at index 2 is -1"),
    ("ins_label", np.array([1, 1, 1.5, 1]), r"_ins_label.npy: ins_label at index 2 is 1.5"),
    ("ins_label", np.array([1, 1, 2**40, 1]), r"ins_label at index 2 is 1099511627776; "
                                              r"expected an integer in 0..4294967295"),
    ("axis_align_matrix", np.full((4, 4), math.inf), r"_axis_align_matrix.npy: matrix at index"),
    ("bbox_idx", np.array([-3]), r"_bbox_idx.npy: instance id at index 0 is -3"),
])
def test_scene_arrays_are_checked(tmp_path, name, array, message):
    scene_files(tmp_path)
    np.save(tmp_path / f"{SCENE}_{name}.npy", array)
    with pytest.raises(ValueError, match=message):
        load_scannet_array_scene(tmp_path, SCENE)


# ---- ScanNet .sens ---------------------------------------------------------------------------

def sens_header(num_frames: int, sizes=(4, 3, 4, 3), color_type: int = 0,
                depth_fx: float = 1.0) -> bytes:
    out = struct.pack("<I", 4) + struct.pack("<Q", 2) + b"ab"
    depth_k = np.eye(4)
    depth_k[0, 0] = depth_fx
    for matrix in (np.eye(4), np.eye(4), depth_k, np.eye(4)):
        out += struct.pack("<16f", *matrix.reshape(-1))
    out += struct.pack("<ii", color_type, 1) + struct.pack("<4I", *sizes) + struct.pack("<f", 1e3)
    return out + struct.pack("<Q", num_frames)


def sens_frame(color: bytes, depth: bytes) -> bytes:
    pose = struct.pack("<16f", *np.eye(4).reshape(-1))
    return pose + struct.pack("<QQQQ", 1, 2, len(color), len(depth)) + color + depth


def test_sens_frame_count_beyond_file_size(tmp_path):
    path = tmp_path / "s.sens"
    path.write_bytes(sens_header(2**62) + b"\0" * 100)
    with pytest.raises(SensFormatError, match=r"s.sens: frame count 4611686018427387904 at byte "
                                              r"offset \d+ needs at least \d+ bytes of frame "
                                              r"records, but 100 bytes follow"):
        SensStream(path)


def test_sens_image_sizes_must_be_plausible(tmp_path):
    path = tmp_path / "s.sens"
    path.write_bytes(sens_header(0, sizes=(4, 3, 2**31, 2**31)))
    with pytest.raises(SensFormatError, match=rf"s.sens: image sizes at byte offset \d+ must be in "
                                              rf"1..{MAX_IMAGE_SIDE}, got colour 4x3, depth "
                                              rf"2147483648x2147483648"):
        SensStream(path)


def test_sens_non_finite_depth_intrinsics_are_refused_with_depth(tmp_path):
    path = tmp_path / "s.sens"
    frame = sens_frame(bytes(36), zlib.compress(bytes(24)))
    path.write_bytes(sens_header(1, depth_fx=math.nan) + frame)
    assert read_sens_dataset(path).images.shape == (1, 3, 4, 3)  # colour only: depth K unused
    with pytest.raises(ValueError, match=r"s.sens depth intrinsics: intrinsic 'fx' is not "
                                         r"finite \(nan\)"):
        read_sens_dataset(path, with_depth=True)


def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height)).save(buf, format="PNG")
    return buf.getvalue()


def test_sens_colour_size_is_compared_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "s.sens"
    depth = zlib.compress(b"\0" * 24)
    path.write_bytes(sens_header(1, color_type=1) + sens_frame(png_bytes(64, 48), depth))
    decoded = []
    monkeypatch.setattr(Image.Image, "convert", lambda *a, **k: decoded.append(1))
    with SensStream(path) as sens:
        (frame,) = sens.frames()
        with pytest.raises(SensFormatError, match=r"s.sens: frame 0 \(byte offset \d+\) colour: "
                                                  r"image is 64x48 but the header says 4x3"):
            sens.decode_color(frame)
    assert not decoded


def test_sens_depth_zlib_bomb_is_capped(tmp_path):
    path = tmp_path / "s.sens"
    bomb = zlib.compress(b"\0" * (4 << 20), 9)  # 4 MiB from ~4 KiB; only 25 bytes get inflated
    path.write_bytes(sens_header(1) + sens_frame(b"\0" * 36, bomb))
    with SensStream(path) as sens:
        (frame,) = sens.frames()
        with pytest.raises(SensFormatError, match=r"s.sens: frame 0 .* depth: 25 bytes of uint16 "
                                                  r"depth, expected 24 for 4x3"):
            sens.decode_depth(frame)


# ---- ARKitScenes -----------------------------------------------------------------------------

AXES = [1, 0, 0, 0, 1, 0, 0, 0, 1]


def annotation(tmp_path: Path, entries: list, **extra) -> Path:
    path = tmp_path / "41254925_3dod_annotation.json"
    path.write_text(json.dumps({"data": entries, **extra}))
    return path


def obb_entry(**obb) -> dict:
    box = {"centroid": [0, 0, 0], "axesLengths": [1, 1, 1], "normalizedAxes": AXES, **obb}
    return {"label": "chair", "uid": "u", "segments": {"obbAligned": box}}


@pytest.mark.parametrize("entry, message", [
    (obb_entry(centroid=[0, math.nan, 0]), r"data\[0\].segments.obbAligned.centroid: expected 3 "
                                           r"finite numbers, found \[0, nan, 0\]"),
    (obb_entry(axesLengths=[1, math.inf, 1]), r"obbAligned.axesLengths: expected 3 finite"),
    (obb_entry(axesLengths=["1", "1", "1"]), r"obbAligned.axesLengths: expected 3 finite"),
    (obb_entry(axesLengths=[True, 1, 1]), r"obbAligned.axesLengths: expected 3 finite"),
    (obb_entry(centroid=[10**400, 0, 0]), r"obbAligned.centroid: expected 3 finite numbers"),
    (obb_entry(normalizedAxes=[1, 0, 0]), r"obbAligned.normalizedAxes: expected 9 finite"),
    (obb_entry(axesLengths=[1, -2, 1]), r"obbAligned.axesLengths: expected lengths >= 0"),
    ({"segments": {}}, r"data\[0\]: missing field 'label'"),
    ({"label": 7, "segments": {}}, r"data\[0\].label: expected a string, found 7"),
    ({"label": "chair", "segments": []}, r"data\[0\].segments: expected an object, found \[\]"),
    ([1, 2], r"data\[0\]: expected an object, found \[1, 2\]"),
    ({"label": "chair", "segments": {"obbAligned": {"centroid": [0, 0, 0]}}},
     r"data\[0\]: missing field 'axesLengths'"),
])
def test_arkitscenes_annotation_fields(tmp_path, entry, message):
    path = annotation(tmp_path, [obb_entry(), entry])
    with pytest.raises(ValueError, match=message.replace(r"data\[0\]", r"data\[1\]")):
        read_arkitscenes_annotation(path)


def test_arkitscenes_annotation_extra_fields_ignored_skipped_typed(tmp_path):
    entry = {**obb_entry(), "attributes": {"x": 1}}
    ann = read_arkitscenes_annotation(annotation(tmp_path, [entry], stats={"a": 1}))
    assert len(ann.boxes) == 1 and not ann.skipped
    with pytest.raises(ValueError, match=r"_3dod_annotation.json: skipped: expected true or "
                                         r"false, found 'false'"):
        read_arkitscenes_annotation(annotation(tmp_path, [], skipped="false"))


@pytest.mark.parametrize("payload, message", [
    (b"[" * 100000 + b"]" * 100000, r"_3dod_annotation.json: JSON nested too deeply to read"),
    (b'{"data": [], "x": "\xff"}', r"_3dod_annotation.json: not a UTF-8 text file"),
    (b'{"data": [', r"_3dod_annotation.json: invalid JSON at line 1"),
], ids=["deep", "latin1", "truncated"])
def test_arkitscenes_annotation_unreadable_json(tmp_path, payload, message):
    path = tmp_path / "41254925_3dod_annotation.json"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        read_arkitscenes_annotation(path)


def test_arkitscenes_split_csv_errors(tmp_path):
    path = tmp_path / "split.csv"
    path.write_bytes(b"video_id,fold\n1,\xffTraining\n")
    with pytest.raises(ValueError, match=r"split.csv: not a UTF-8 text file"):
        read_arkitscenes_split(path)
    path.write_text("video_id,visit_id,fold\n1\n")
    with pytest.raises(ValueError, match=r"split.csv: line 2: too few columns"):
        read_arkitscenes_split(path)


@pytest.mark.parametrize("line", ["1.0 0 0 0 0 0 0 0", "1.0 0 0 inf 0 0 0", "nan 0 0 0 0 0 0",
                                  "1.0 0 0 0 0 0 x"])
def test_traj_extra_or_non_finite_fields(tmp_path, line):
    path = tmp_path / "lowres_wide.traj"
    path.write_text(f"0.5 0 0 0 0 0 0\n{line}\n")
    with pytest.raises(ValueError, match=r"lowres_wide.traj line 2: expected seven finite"):
        read_traj(path)


@pytest.mark.parametrize("text, message", [
    ("256 192 200 200 128 96 1", "expected six numbers"),
    ("256 192 nan 200 128 96", "intrinsic 'fx' is not finite"),
    ("256 192 200 200 inf 96", "intrinsic 'cx' is not finite"),
    ("inf 192 200 200 128 96", "width and height must be integers"),
])
def test_pincam_extra_or_non_finite_fields(tmp_path, text, message):
    path = tmp_path / "a.pincam"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"a.pincam: .*{message}"):
        read_pincam(path)


@pytest.mark.parametrize("stamp", ["nan", "inf", "1_000.5", "-3.0", "1e3"])
def test_frame_names_must_be_decimal_seconds(tmp_path, stamp):
    frames = tmp_path / "41254925" / "41254925_frames"
    (frames / "lowres_wide").mkdir(parents=True)
    Image.new("RGB", (4, 3)).save(frames / "lowres_wide" / f"41254925_{stamp}.png")
    with pytest.raises(ValueError, match=rf"41254925_{stamp}.png: expected a file name "
                                         rf"41254925_<seconds>.png"):
        read_arkitscenes_frames(tmp_path / "41254925")


# ---- raw ScanNet -----------------------------------------------------------------------------

@pytest.mark.parametrize("seg_indices, message", [
    ([0, 1.5], r"segIndices\[1\]: expected an integer in \[0, \d+\], found 1.5"),
    ([0, True], r"segIndices\[1\]: expected an integer"),
    ([0, -1], r"segIndices\[1\]: expected an integer"),
    ([0, 10**30], r"segIndices\[1\]: expected an integer"),
    ("0 1", r"segIndices: expected a list of integers, found '0 1'"),
])
def test_segment_indices_are_integers(tmp_path, seg_indices, message):
    path = tmp_path / "s.segs.json"
    path.write_text(json.dumps({"segIndices": seg_indices}))
    with pytest.raises(ValueError, match=rf"s.segs.json: {message}"):
        read_segment_indices(path)


@pytest.mark.parametrize("group, message", [
    ({"objectId": math.inf, "label": "chair", "segments": [1]}, r"segGroups\[0\].objectId: "
                                                                r"expected an integer"),
    ({"objectId": "3", "label": "chair", "segments": [1]}, r"segGroups\[0\].objectId"),
    ({"objectId": 0, "label": None, "segments": [1]}, r"segGroups\[0\].label: expected a string"),
    ({"objectId": 0, "label": "chair", "segments": [1, 2.5]}, r"segGroups\[0\].segments\[1\]"),
    ({"objectId": 0, "label": "chair"}, r"segGroups\[0\]: missing field 'segments'"),
])
def test_aggregation_fields_are_typed(tmp_path, group, message):
    path = tmp_path / "a.aggregation.json"
    path.write_text(json.dumps({"segGroups": [group]}))
    with pytest.raises(ValueError, match=rf"a.aggregation.json: {message}"):
        read_aggregation(path)


def test_axis_alignment_must_be_finite_and_label_map_utf8(tmp_path):
    meta = tmp_path / "scene.txt"
    meta.write_text("axisAlignment = " + " ".join(["1"] * 15 + ["nan"]) + "\n")
    with pytest.raises(ValueError, match=r"scene.txt: axisAlignment must hold 16 numbers, all "
                                         r"finite"):
        read_axis_alignment(meta)
    tsv = tmp_path / "labels.tsv"
    tsv.write_bytes(b"raw_category\tnyu40id\nchair\t5\n\xff\t3\n")
    with pytest.raises(ValueError, match=r"labels.tsv: not a UTF-8 text file"):
        read_label_map(tsv)
    tsv.write_text("raw_category\tnyu40id\nchair\n")
    with pytest.raises(ValueError, match=r"labels.tsv:2: nyu40id None is not an integer"):
        read_label_map(tsv)


def test_mesh_that_is_not_a_ply_names_the_file(tmp_path):
    path = tmp_path / "scene_vh_clean_2.ply"
    path.write_bytes(b"not a ply")
    with pytest.raises(ValueError, match=r"scene_vh_clean_2.ply: not a PLY file"):
        read_mesh_vertices(path)
