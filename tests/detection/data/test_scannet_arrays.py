"""ScanNet preprocessed-array reader and VoteNet's box definition, on the real VoteNet
samples (skipped when /work/shared/data is absent) and on small written fixtures."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from detection.data.classes import SCANNET_CLASSES, SCANNET_NYU40_IDS, dataset_classes
from detection.data.scannet_arrays import (
    list_scannet_array_scenes,
    load_scannet_array_boxes,
    load_scannet_array_scene,
)
from detection.data.scannet_scene import boxes_from_nyu40_rows, instance_boxes

SHARED = Path("/work/shared/data/scannet_mmdet3d")
VOTENET_DIR = SHARED / "votenet_format_full_scenes"
needs_shared = pytest.mark.skipif(
    not VOTENET_DIR.is_dir(), reason=f"real ScanNet samples not found at {VOTENET_DIR}"
)


def test_class_tables():
    assert len(SCANNET_CLASSES) == len(SCANNET_NYU40_IDS) == 18
    assert SCANNET_CLASSES[13] == "showercurtrain" and SCANNET_CLASSES[-1] == "garbagebin"
    assert len(dataset_classes("arkitscenes")) == 17
    with pytest.raises(ValueError, match=r"unknown dataset 'kitti'.*'arkitscenes', 'scannet'"):
        dataset_classes("kitti")


@needs_shared
@pytest.mark.parametrize("scene_id", ["scene0000_00", "scene0000_01"])
def test_real_scene_boxes_reproduce_votenet_bbox_file_bitwise(scene_id):
    scene = load_scannet_array_scene(VOTENET_DIR, scene_id)
    assert scene.points.dtype == np.float32 and scene.points.shape[1] == 3
    assert scene.semantic_ids.shape == scene.instance_ids.shape == (len(scene.points),)
    rows, ids = instance_boxes(scene.points, scene.instance_ids, scene.semantic_ids)
    expected = np.load(VOTENET_DIR / f"{scene_id}_bbox.npy")
    np.testing.assert_array_equal(rows, expected)  # bit for bit, float32 min/max as VoteNet
    np.testing.assert_array_equal(ids, np.load(VOTENET_DIR / f"{scene_id}_bbox_idx.npy"))
    np.testing.assert_array_equal(scene.box_instance_ids, ids)
    assert np.all(scene.boxes.params[:, 6] == 0)


@needs_shared
def test_real_labels_match_mmdet3d_infos():
    """mmdetection3d's info file for scene0000_00 stores the same boxes with labels in its
    own class order, which must be ours."""
    with open(SHARED / "tests_v1x" / "scannet_infos.pkl", "rb") as f:
        infos = pickle.load(f)
    instances = infos["data_list"][0]["instances"]
    boxes = load_scannet_array_boxes(VOTENET_DIR, "scene0000_00")
    np.testing.assert_array_equal(boxes.labels, [i["bbox_label_3d"] for i in instances])
    np.testing.assert_allclose(boxes.params[:, :6], [i["bbox_3d"] for i in instances], atol=1e-6)
    assert list_scannet_array_scenes(VOTENET_DIR) == ["scene0000_00", "scene0000_01"]


def write_scene(folder: Path, scene_id: str, points: np.ndarray, sem: np.ndarray,
                ins: np.ndarray, suffix: str = "", bbox_name: str = "_bbox.npy",
                matrix: np.ndarray | None = None) -> np.ndarray:
    colors = np.full((len(points), 3), 128, np.float32)
    np.save(folder / f"{scene_id}_vert{suffix}.npy", np.concatenate([points, colors], 1))
    np.save(folder / f"{scene_id}_sem_label{suffix}.npy", sem)
    np.save(folder / f"{scene_id}_ins_label{suffix}.npy", ins)
    aligned = points if matrix is None else (points @ matrix[:3, :3].T + matrix[:3, 3])
    rows, _ = instance_boxes(aligned.astype(np.float32), ins, sem)
    np.save(folder / f"{scene_id}{bbox_name}", rows)
    if matrix is not None:
        np.save(folder / f"{scene_id}_axis_align_matrix.npy", matrix)
    return rows


def small_scene(rng: np.random.Generator):
    points = rng.uniform(-2, 2, (60, 3)).astype(np.float32)
    ins = np.repeat(np.arange(6, dtype=np.uint32), 10)  # instance 0 = unannotated
    nyu = np.array([0, 5, 7, 1, 39, 40], np.uint32)  # chair, table, wall, garbagebin, other
    return points, nyu[ins], ins


def test_instance_boxes_hand_checked():
    points = np.array([[0, 0, 0], [1, 2, 3], [5, 5, 5], [4, 4, 6]], np.float32)
    ins = np.array([1, 1, 2, 2], np.uint32)
    sem = np.array([5, 5, 1, 1], np.uint32)  # instance 2 is a wall: not a benchmark class
    rows, ids = instance_boxes(points, ins, sem)
    np.testing.assert_array_equal(rows, [[0.5, 1, 1.5, 1, 2, 3, 5]])
    np.testing.assert_array_equal(ids, [1])


def test_fixture_scene_round_trip_and_file_variants(tmp_path):
    points, sem, ins = small_scene(np.random.default_rng(0))
    rows = write_scene(tmp_path, "scene0001_00", points, sem, ins, suffix="_all")
    scene = load_scannet_array_scene(tmp_path, "scene0001_00")
    np.testing.assert_array_equal(scene.points, points)
    np.testing.assert_array_equal(scene.instance_ids, ins)
    assert scene.box_instance_ids is None and scene.axis_align_matrix is None
    assert [SCANNET_CLASSES[i] for i in scene.boxes.labels] == ["chair", "table", "garbagebin"]
    np.testing.assert_array_equal(scene.boxes.params[:, :6], rows[:, :6])

    # mmdetection3d layout: unaligned points, a matrix file, "_aligned_bbox.npy"
    c, s = np.cos(0.3), np.sin(0.3)
    matrix = np.array([[c, -s, 0, 1.0], [s, c, 0, 2], [0, 0, 1, 0.5], [0, 0, 0, 1]])
    rows = write_scene(tmp_path, "scene0002_00", points, sem, ins,
                       bbox_name="_aligned_bbox.npy", matrix=matrix)
    np.save(tmp_path / "scene0002_00_unaligned_bbox.npy", rows)
    scene = load_scannet_array_scene(tmp_path, "scene0002_00")
    np.testing.assert_allclose(scene.points, points @ matrix[:3, :3].T + matrix[:3, 3], atol=1e-6)
    np.testing.assert_array_equal(scene.axis_align_matrix, matrix)
    assert list_scannet_array_scenes(tmp_path) == ["scene0001_00", "scene0002_00"]


def test_bbox_rows_with_other_ids_are_dropped_and_bad_shapes_named(tmp_path):
    rows = np.array([[0, 0, 0, 1, 1, 1, 5], [0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 40]])
    boxes = boxes_from_nyu40_rows(rows, "x_bbox.npy")
    np.testing.assert_array_equal(boxes.labels, [SCANNET_CLASSES.index("chair")])
    with pytest.raises(ValueError, match=r"x_bbox.npy: expected box rows of shape \[K, 7\]"):
        boxes_from_nyu40_rows(np.zeros((2, 6)), "x_bbox.npy")
    with pytest.raises(ValueError, match=r"x_bbox.npy: row 0 class id \(column 6\): expected "
                                         r"an integer NYU40 id"):
        boxes_from_nyu40_rows(np.array([[0, 0, 0, 1, 1, 1, 5.5]]), "x_bbox.npy")

    points, sem, ins = small_scene(np.random.default_rng(1))
    write_scene(tmp_path, "scene0003_00", points, sem, ins)
    np.save(tmp_path / "scene0003_00_ins_label.npy", ins[:-1])
    with pytest.raises(ValueError, match=r"scene0003_00_ins_label.npy: expected \[60\] labels"):
        load_scannet_array_scene(tmp_path, "scene0003_00")
    with pytest.raises(FileNotFoundError, match="no scene9999_00_vert.npy"):
        load_scannet_array_scene(tmp_path, "scene9999_00")
    with pytest.raises(FileNotFoundError, match="no scene9999_00_bbox.npy"):
        load_scannet_array_boxes(tmp_path, "scene9999_00")
