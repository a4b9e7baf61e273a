"""Room generator: reproducible, non-overlapping objects inside the walls, every object
Gaussian inside its ground-truth box (checked in float64 in the box frame)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detection.eval.iou3d import box_iou_3d
from detection.synthetic.furniture import ROOM_CLASSES, TEMPLATES
from detection.synthetic.rooms import RoomConfig, _rect_overlap, generate_room

SMALL = RoomConfig(object_density=150.0, room_density=30.0)


def in_box_frame(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    c, s = math.cos(box[6]), math.sin(box[6])
    d = points - box[:3]
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], -1)


@pytest.mark.parametrize("style", ["axis", "yaw"])
@pytest.mark.parametrize("seed", [0, 5])
def test_objects_inside_their_boxes_and_apart(style, seed):
    config = RoomConfig(object_density=150.0, room_density=30.0, box_style=style)
    room = generate_room(config, seed)
    boxes = room.boxes
    assert len(boxes) >= 1 and boxes.scores is None
    assert int(room.instance_ids.max()) == len(boxes)
    assert set(boxes.labels.tolist()) <= set(range(len(ROOM_CLASSES)))
    if style == "axis":
        assert (boxes.params[:, 6] == 0).all()
    means = room.gaussians.means.double().numpy()
    # thickness of a surface disc (3 sigma) is the only allowed excess
    tol = 1e-4
    for k, box in enumerate(boxes.params, start=1):
        local = in_box_frame(means[room.instance_ids.numpy() == k], box)
        assert (np.abs(local) <= box[3:6] / 2 + tol).all(), f"object {k} leaves its box"
        # the box is tight: the object's Gaussians reach every face of it
        np.testing.assert_allclose(np.abs(local).max(0), box[3:6] / 2, atol=0.05)
    iou = box_iou_3d(boxes.params, boxes.params)
    assert np.allclose(iou - np.eye(len(boxes)), 0.0)
    width, depth, height = room.size
    for box in boxes.params:
        corners = in_box_frame(np.zeros((1, 3)), box)  # the room centre in the box frame
        dist = np.hypot(*np.maximum(np.abs(corners[0, :2]) - box[3:5] / 2, 0))
        assert dist >= config.free_radius - 1e-9
        c, s = math.cos(box[6]), math.sin(box[6])
        ex = abs(c) * box[3] / 2 + abs(s) * box[4] / 2
        ey = abs(s) * box[3] / 2 + abs(c) * box[4] / 2
        assert abs(box[0]) + ex <= width / 2 + 1e-9 and abs(box[1]) + ey <= depth / 2 + 1e-9
        assert box[2] == pytest.approx(box[5] / 2)  # standing on the floor
    structure = means[room.instance_ids.numpy() == 0]
    assert (np.abs(structure[:, 0]) <= width / 2 + 0.011).all()
    assert (np.abs(structure[:, 1]) <= depth / 2 + 0.011).all()
    assert structure[:, 2].min() == pytest.approx(0.0, abs=1e-6)


def test_same_seed_same_room_other_seed_other_room():
    a, b, c = generate_room(SMALL, 3), generate_room(SMALL, 3), generate_room(SMALL, 4)
    torch.testing.assert_close(a.gaussians.means, b.gaussians.means, rtol=0, atol=0)
    np.testing.assert_array_equal(a.boxes.params, b.boxes.params)
    assert a.size != c.size


def test_instance_labels_and_ceiling():
    room = generate_room(RoomConfig(object_density=100.0, room_density=30.0, ceiling=True), 1)
    assert room.instance_labels[0] == -1
    np.testing.assert_array_equal(room.instance_labels[1:], room.boxes.labels)
    top = room.gaussians.means[room.instance_ids == 0, 2].max()
    assert float(top) == pytest.approx(2.6, abs=1e-5)


def test_rect_overlap_matches_point_sampling():
    gen = np.random.default_rng(0)
    for _ in range(60):
        a, b = (np.concatenate([gen.uniform(-1, 1, 2), [0], gen.uniform(0.2, 1.5, 2), [1],
                                [gen.uniform(-3, 3)]]) for _ in range(2))
        from detection.data.boxes import bev_corners

        expected = box_iou_3d(a[None], b[None])[0, 0] > 0
        assert _rect_overlap(bev_corners(a[None])[0], bev_corners(b[None])[0]) == expected


def test_templates_stay_in_their_box():
    gen = torch.Generator().manual_seed(0)
    for name, template in TEMPLATES.items():
        size = template.sample_size(gen)
        assert all(lo <= v <= hi for lo, v, hi in
                   zip(template.size_min, size, template.size_max, strict=True))
        for part in template.parts(size, gen):
            lo = np.array(part.center) - np.array(part.size) / 2
            hi = np.array(part.center) + np.array(part.size) / 2
            assert (lo[:2] >= -np.array(size[:2]) / 2 - 1e-9).all(), name
            assert (hi[:2] <= np.array(size[:2]) / 2 + 1e-9).all(), name
            assert lo[2] >= -1e-9 and hi[2] <= size[2] + 1e-9, name


def test_bad_classes():
    with pytest.raises(ValueError, match="classes"):
        generate_room(RoomConfig(classes=("toaster",)), 0)
