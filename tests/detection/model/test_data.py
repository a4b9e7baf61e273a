"""Scene-set folder reading (and its errors) and augmentation consistency."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from detection.model.box_coding import face_distances
from detection.model.data import (
    AugmentConfig,
    augment_scene,
    read_class_boxes,
    read_detection_scenes,
    write_class_boxes,
)
from splat3d.io.ply import save_ply

CLASSES = ("table", "cabinet", "chair")  # make_scene's labels (conftest.CLASSES)


def _write_folder(root, scenes, classes=CLASSES, splits=None):
    for s in scenes:
        save_ply(root / s.name / "point_cloud.ply", s.gaussians)
        write_class_boxes(root / s.name / "gt_boxes.json", s.name, s.boxes, classes)
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(list(classes)))
    if splits is not None:
        (root / "splits.json").write_text(json.dumps(splits))


def test_read_detection_scenes_round_trip(tmp_path, scene_factory):
    scenes = [scene_factory(i, name=f"room_{i}") for i in range(3)]
    _write_folder(tmp_path, scenes, splits={"train": ["room_0", "room_2"], "val": ["room_1"]})
    train, classes = read_detection_scenes(tmp_path, "train")
    assert classes == CLASSES and [s.name for s in train] == ["room_0", "room_2"]
    np.testing.assert_allclose(train[1].boxes.params, scenes[2].boxes.params)
    np.testing.assert_array_equal(train[1].boxes.labels, scenes[2].boxes.labels)
    torch.testing.assert_close(train[1].gaussians.means, scenes[2].gaussians.means)
    every, _ = read_detection_scenes(tmp_path, None)
    assert [s.name for s in every] == ["room_0", "room_1", "room_2"]


def test_without_classes_json_the_dataset_classes_are_used(tmp_path, scene_factory):
    from detection.data.classes import SCANNET_CLASSES

    scene = scene_factory(0, name="s")
    _write_folder(tmp_path, [scene], classes=CLASSES)
    (tmp_path / "classes.json").unlink()
    scenes, classes = read_detection_scenes(tmp_path)
    assert classes == SCANNET_CLASSES
    names = [classes[i] for i in scenes[0].boxes.labels]
    assert names == [CLASSES[i] for i in scene.boxes.labels]


def test_reader_errors_name_the_problem(tmp_path, scene_factory):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_detection_scenes(tmp_path / "nope")
    scenes = [scene_factory(0, name="room_0")]
    _write_folder(tmp_path, scenes, splits={"train": ["room_0", "room_9"]})
    with pytest.raises(FileNotFoundError, match="room_9"):
        read_detection_scenes(tmp_path, "train")
    with pytest.raises(ValueError, match="no split 'test'"):
        read_detection_scenes(tmp_path, "test")
    (tmp_path / "classes.json").write_text('["chair", "spaceship"]')
    with pytest.raises(ValueError, match="spaceship"):
        read_detection_scenes(tmp_path, None)
    (tmp_path / "classes.json").write_text('["chair"]')
    with pytest.raises(ValueError, match="gt_boxes.json: label 'table' is not one of"):
        read_detection_scenes(tmp_path, None)
    (tmp_path / "classes.json").write_text('{"chair": 1')
    with pytest.raises(ValueError, match="classes.json: invalid JSON"):
        read_detection_scenes(tmp_path, None)


def test_class_boxes_round_trip_with_scores(tmp_path, scene_factory):
    from detection.data.boxes import Boxes3D

    boxes = scene_factory(0).boxes
    scored = Boxes3D(boxes.params, boxes.labels, np.linspace(0.9, 0.1, len(boxes)))
    write_class_boxes(tmp_path / "p.json", "s", scored, CLASSES)
    back = read_class_boxes(tmp_path / "p.json", CLASSES)
    np.testing.assert_array_equal(back.labels, boxes.labels)
    assert json.loads((tmp_path / "p.json").read_text())["boxes"][0]["score"] == 0.9


def _covariances(g):
    return g.covariances.double()


@pytest.mark.parametrize("with_yaw", [False, True])
def test_augmentation_moves_gaussians_and_boxes_together(scene_factory, with_yaw):
    scene = scene_factory(3, density=100.0, with_yaw=with_yaw)
    config = AugmentConfig(drop=0.0, max_angle=0.4 if with_yaw else 0.0)
    gen = torch.Generator().manual_seed(0)
    before = face_distances(scene.gaussians.means.double()[:, None],
                            torch.from_numpy(scene.boxes.params)[None])  # [N, G, 6]
    for _ in range(8):
        out = augment_scene(scene, config, gen)
        # the map A is recovered from the means; covariances must transform as A S A^T
        x, y = scene.gaussians.means.double(), out.gaussians.means.double()
        a = torch.linalg.lstsq(x, y).solution.T
        torch.testing.assert_close(x @ a.T, y, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_covariances(out.gaussians),
                                   a @ _covariances(scene.gaussians) @ a.T, atol=1e-7, rtol=1e-3)
        scale = float(torch.linalg.det(a).abs() ** (1 / 3))
        after = face_distances(y[:, None], torch.from_numpy(out.boxes.params)[None])
        # each Gaussian keeps its distances to each box's faces (up to the scale and a
        # permutation of the faces), so inside / outside is preserved
        torch.testing.assert_close(after.min(-1).values, scale * before.min(-1).values,
                                   atol=1e-4, rtol=1e-4)
        if not with_yaw:
            assert (out.boxes.params[:, 6] == 0).all()
        assert (np.abs(out.boxes.params[:, 6]) <= math.pi / 2 + 1e-9).all()


def test_augmentation_drops_gaussians_and_is_seeded(scene_factory):
    scene = scene_factory(4)
    a = augment_scene(scene, AugmentConfig(drop=0.5), torch.Generator().manual_seed(1))
    b = augment_scene(scene, AugmentConfig(drop=0.5), torch.Generator().manual_seed(1))
    assert len(a.gaussians) < len(scene.gaussians)
    torch.testing.assert_close(a.gaussians.means, b.gaussians.means)
    np.testing.assert_array_equal(a.boxes.params, b.boxes.params)
