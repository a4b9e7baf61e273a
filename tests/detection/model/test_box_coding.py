"""Face-distance box coding and centerness against direct geometry."""

from __future__ import annotations

import math

import torch

from detection.model.assign import centerness
from detection.model.box_coding import boxes_from_distances, face_distances


def _random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 3, generator=g, dtype=torch.float64) * 4 - 2
    size = torch.rand(n, 3, generator=g, dtype=torch.float64) * 2 + 0.2
    yaw = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * math.pi
    return torch.cat([centre, size, yaw], dim=1)


def test_face_distances_match_box_frame_geometry():
    boxes = _random_boxes(50, 0)
    points = boxes[:, :3] + torch.randn(50, 3, dtype=torch.float64)
    d = face_distances(points, boxes)
    for i in range(50):
        c, s = math.cos(boxes[i, 6]), math.sin(boxes[i, 6])
        axes = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        for a in range(3):  # signed distance to the -a face and the +a face
            along = float(axes[a] @ (points[i] - boxes[i, :3]))
            half = float(boxes[i, 3 + a]) / 2
            assert math.isclose(float(d[i, 2 * a]), along + half, abs_tol=1e-9)
            assert math.isclose(float(d[i, 2 * a + 1]), half - along, abs_tol=1e-9)


def test_distances_round_trip_to_boxes():
    boxes = _random_boxes(40, 1)
    points = boxes[:, :3] + 0.3 * torch.randn(40, 3, dtype=torch.float64)
    back = boxes_from_distances(points, face_distances(points, boxes), boxes[:, 6])
    torch.testing.assert_close(back, boxes)


def test_centerness_is_one_at_the_centre_zero_on_faces_and_outside():
    boxes = _random_boxes(5, 2)
    assert torch.allclose(centerness(face_distances(boxes[:, :3], boxes)), torch.ones(5,
                          dtype=torch.float64))
    outside = boxes[:, :3] + torch.stack([boxes[:, 3], boxes[:, 4], boxes[:, 5]], 1)
    assert (centerness(face_distances(outside, boxes)) == 0).all()
    on_face = boxes[:, :3].clone()
    on_face[:, 2] += boxes[:, 5] / 2  # top face (z is not rotated by yaw)
    assert torch.allclose(centerness(face_distances(on_face, boxes)), torch.zeros(5,
                          dtype=torch.float64), atol=1e-7)
    d = torch.tensor([1.0, 3.0, 2.0, 2.0, 0.5, 1.5])
    assert math.isclose(float(centerness(d)), math.sqrt(1 / 3 * 1 * 1 / 3), rel_tol=1e-6)
