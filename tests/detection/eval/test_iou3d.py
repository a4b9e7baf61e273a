"""Exact 3D IoU against closed forms, symmetry/invariance properties and seeded Monte-Carlo
estimates whose tolerance follows from the sample count."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detection.eval.iou3d import (
    bev_intersection_area,
    box_iou_3d,
    box_iou_3d_axis_aligned,
    paired_box_iou_3d,
    paired_box_iou_3d_axis_aligned,
    polygon_area,
)

TOL = dict(rtol=1e-10, atol=1e-12)  # float64 clipping vs closed forms


def random_boxes(rng: np.random.Generator, n: int, yaw: bool = True, spread: float = 1.0):
    centres = rng.uniform(-spread, spread, (n, 3))
    sizes = rng.uniform(0.2, 2.0, (n, 3))
    yaws = rng.uniform(-math.pi, math.pi, (n, 1)) if yaw else np.zeros((n, 1))
    return np.concatenate([centres, sizes, yaws], axis=1)


def points_in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Naive inside test: rotate into the box frame, compare with half sizes."""
    rel = points - box[:3]
    c, s = math.cos(box[6]), math.sin(box[6])
    local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
    return np.all(np.abs(local) <= box[3:6] / 2, axis=1)


def sample_in_box(rng: np.random.Generator, box: np.ndarray, n: int) -> np.ndarray:
    local = (rng.random((n, 3)) - 0.5) * box[3:6]
    c, s = math.cos(box[6]), math.sin(box[6])
    world = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1],
                      local[:, 2]], 1)
    return world + box[:3]


def test_identical_boxes_have_iou_one():
    boxes = random_boxes(np.random.default_rng(0), 20)
    np.testing.assert_allclose(np.diag(box_iou_3d(boxes, boxes)), 1.0, **TOL)


def test_disjoint_and_touching_boxes_have_iou_zero():
    a = np.array([[0, 0, 0, 1, 1, 1, 0.3]])
    far = np.array([[5, 0, 0, 1, 1, 1, 0.0]])
    stacked = np.array([[0, 0, 1, 1, 1, 1, 0.3]])  # touches a's top face
    assert box_iou_3d(a, far)[0, 0] == 0.0
    assert box_iou_3d(a, stacked)[0, 0] == 0.0


def test_rotated_square_closed_form():
    # A 2x2 square and the same square turned 45 degrees meet in a regular octagon of area
    # 8 (sqrt 2 - 1); with equal heights h the IoU is A / (8 - A) (each square has area 4).
    a = np.array([[0, 0, 0, 2, 2, 3, 0.0]])
    b = np.array([[0, 0, 0, 2, 2, 3, math.pi / 4]])
    octagon = 8 * (math.sqrt(2) - 1)
    np.testing.assert_allclose(box_iou_3d(a, b)[0, 0], octagon / (8 - octagon), **TOL)


def test_quarter_turn_swaps_sizes():
    # yaw = pi/2 turns a 4 x 1 box into a 1 x 4 one: a cross whose arms meet in a 1x1 square.
    a = np.array([[0, 0, 0, 4, 1, 1, 0.0]])
    b = np.array([[0, 0, 0, 4, 1, 1, math.pi / 2]])
    np.testing.assert_allclose(box_iou_3d(a, b)[0, 0], 1 / 7, **TOL)


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (0, 4), (5, 0), (40, 40)])
def test_zero_yaw_matches_axis_aligned_closed_form(shape):
    rng = np.random.default_rng(sum(shape))
    a, b = random_boxes(rng, shape[0], yaw=False), random_boxes(rng, shape[1], yaw=False)
    iou = box_iou_3d(a, b)
    assert iou.shape == shape
    np.testing.assert_allclose(iou, box_iou_3d_axis_aligned(a, b), **TOL)


def test_symmetric_and_invariant_to_rigid_motion_and_half_turns():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 30), random_boxes(rng, 25)
    iou = box_iou_3d(a, b)
    np.testing.assert_allclose(iou, box_iou_3d(b, a).T, **TOL)
    # a box is symmetric under a half turn about its own vertical axis
    flipped = b.copy()
    flipped[:, 6] += math.pi
    np.testing.assert_allclose(box_iou_3d(a, flipped), iou, **TOL)
    # rotate and translate the whole scene
    theta, shift = 0.7, np.array([3.0, -2.0, 0.5])
    c, s = math.cos(theta), math.sin(theta)

    def move(boxes):
        out = boxes.copy()
        out[:, 0] = c * boxes[:, 0] - s * boxes[:, 1]
        out[:, 1] = s * boxes[:, 0] + c * boxes[:, 1]
        out[:, :3] += shift
        out[:, 6] += theta
        return out

    np.testing.assert_allclose(box_iou_3d(move(a), move(b)), iou, rtol=1e-9, atol=1e-12)


def test_contained_box():
    outer = np.array([[0, 0, 0, 4, 4, 4, 0.2]])
    inner = np.array([[0.1, -0.2, 0.3, 1, 1, 1, 1.1]])
    np.testing.assert_allclose(box_iou_3d(outer, inner)[0, 0], 1 / 64, **TOL)


def test_degenerate_boxes():
    flat = np.array([[0, 0, 0, 1, 1, 0, 0.0]])
    assert box_iou_3d(flat, flat)[0, 0] == 0.0  # zero union: defined as 0
    unit = np.array([[0, 0, 0, 1, 1, 1, 0.0]])
    assert box_iou_3d(flat, unit)[0, 0] == 0.0


def test_rejects_bad_shapes_and_negative_sizes():
    with pytest.raises(ValueError, match=r"boxes_a must have shape \[K, 7\]"):
        box_iou_3d(np.zeros((2, 6)), np.zeros((1, 7)))
    with pytest.raises(ValueError, match="negative sizes"):
        box_iou_3d(np.zeros((1, 7)), np.array([[0, 0, 0, -1, 1, 1, 0.0]]))


def test_polygon_area_of_slots():
    square = np.array([[[0, 0], [1, 0], [1, 1], [0, 1], [9, 9]]], dtype=float)
    np.testing.assert_allclose(polygon_area(square, np.array([4])), [1.0])
    np.testing.assert_allclose(polygon_area(square, np.array([2])), [0.0])


def test_bev_area_of_two_equal_squares_sliding():
    # two unit squares offset by (u, v) overlap in (1-u)(1-v)
    offsets = np.array([[0.0, 0.0], [0.3, 0.0], [0.25, 0.5], [0.9, 0.9], [1.5, 0.0]])
    b = np.tile([[0, 0, 0, 1, 1, 1, 0.0]], (len(offsets), 1))
    a = b.copy()
    a[:, :2] = offsets
    expected = np.clip(1 - offsets[:, 0], 0, None) * np.clip(1 - offsets[:, 1], 0, None)
    np.testing.assert_allclose(bev_intersection_area(a, b), expected, **TOL)


def test_monte_carlo_estimate():
    """Sample n points uniformly in box a; the hit fraction p estimates |a n b| / |a|.
    Its standard error is sqrt(p (1 - p) / n); we accept 5 standard errors (plus a floor
    for p near 0 or 1), propagated through IoU = I / (Va + Vb - I), which is increasing
    in I."""
    rng = np.random.default_rng(2024)
    n = 100_000
    a_boxes, b_boxes = random_boxes(rng, 24, spread=0.6), random_boxes(rng, 24, spread=0.6)
    iou = box_iou_3d(a_boxes, b_boxes)
    checked = 0
    for i in range(len(a_boxes)):
        a, b = a_boxes[i], b_boxes[i]
        hits = points_in_box(sample_in_box(rng, a, n), b).mean()
        vol_a, vol_b = np.prod(a[3:6]), np.prod(b[3:6])
        stderr = math.sqrt(max(hits * (1 - hits), 1 / n) / n)
        lo = max(hits - 5 * stderr, 0.0) * vol_a
        hi = min(hits + 5 * stderr, 1.0) * vol_a
        assert lo / (vol_a + vol_b - lo) <= iou[i, i] <= hi / (vol_a + vol_b - hi), (i, a, b)
        checked += hits > 0
    assert checked >= 12  # the random pairs really overlap, the test is not vacuous


def test_chunked_pairs_match_row_by_row():
    # > 65536 candidate pairs forces several clipping chunks
    boxes = random_boxes(np.random.default_rng(3), 270, spread=0.3)
    full = box_iou_3d(boxes, boxes)
    for row in (0, 133, 269):
        np.testing.assert_allclose(full[row], box_iou_3d(boxes[row : row + 1], boxes)[0], **TOL)


@pytest.mark.parametrize("count", [0, 1, 33])
def test_paired_forms_are_the_diagonal(count):
    rng = np.random.default_rng(count)
    a, b = random_boxes(rng, count, spread=0.5), random_boxes(rng, count, spread=0.5)
    np.testing.assert_allclose(paired_box_iou_3d(a, b), np.diag(box_iou_3d(a, b)), **TOL)
    np.testing.assert_allclose(paired_box_iou_3d_axis_aligned(a, b),
                               np.diag(box_iou_3d_axis_aligned(a, b)), **TOL)
    with pytest.raises(ValueError, match="as many boxes_a as boxes_b"):
        paired_box_iou_3d(a, np.zeros((count + 1, 7)))
