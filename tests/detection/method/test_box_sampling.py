"""Box-focused sampling (3DGS-DET Sec. 3.4): frustum membership against a half-space test of
the 8 back-projected corners, the max-over-views object probability, sampling frequencies
against the exact successive-sampling law, and FPS against a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from detection.method.box_sampling import (
    box_focused_sample,
    box_frustum_contains,
    farthest_point_sample,
    object_probability,
    random_sample,
)
from splat3d.cameras import Cameras

Z_MIN, Z_MAX = 0.5, 8.0
SIGMAS = 4.5  # frequency tolerance in binomial standard deviations


def identity_camera(t: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Cameras:
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, 3] = torch.tensor(t, dtype=torch.float64)
    K = Cameras.intrinsics(100.0, 100.0, 32.0, 24.0).double()
    return Cameras(K, w2c[None], 64, 48)


def look_at_cameras() -> Cameras:
    eyes = torch.tensor([[0.0, -4.0, 1.0], [3.0, 1.0, 2.0]])
    return Cameras.from_look_at(eyes, torch.tensor([[0.0, 0.0, 0.5]]), fov_x=1.0,
                                width=64, height=48).to(dtype=torch.float64)


def halfspace_contains(points: torch.Tensor, camera: Cameras, box, z_min, z_max) -> np.ndarray:
    """Reference: convex hull of the 8 corners back-projected through K^-1 at z_min and z_max
    and moved by the camera-to-world pose; inside = every facet inequality holds."""
    k_inv = torch.linalg.inv(camera.K[0])
    c2w = camera.cam_to_world[0]
    corners = []
    for u, v, d in itertools.product((box[0], box[2]), (box[1], box[3]), (z_min, z_max)):
        cam = d * (k_inv @ torch.tensor([u, v, 1.0], dtype=torch.float64))
        corners.append((c2w[:3, :3] @ cam + c2w[:3, 3]).numpy())
    eq = ConvexHull(np.array(corners)).equations  # [F, 4]: normal . x + offset <= 0 inside
    return (points.numpy() @ eq[:, :3].T + eq[:, 3] <= 1e-9).all(axis=1)


def test_known_frustum_inside_and_outside():
    box = torch.tensor([22.0, 14.0, 42.0, 34.0])  # x, y in [-0.1 z, 0.1 z] for this camera
    pts = torch.tensor([
        [0.0, 0.0, 2.0],  # on the axis: inside
        [0.15, 0.0, 2.0],  # u = 39.5: inside
        [0.15, 0.0, 1.0],  # u = 47: right of the box
        [0.0, -0.15, 1.0],  # v = 9: above the box
        [0.0, 0.0, 0.4],  # nearer than z_min
        [0.0, 0.0, 9.0],  # farther than z_max
        [0.0, 0.0, -2.0],  # behind the camera
        [0.8, 0.8, 8.0],  # the far corner: faces count as inside
    ], dtype=torch.float64)
    expected = torch.tensor([True, True, False, False, False, False, False, True])
    torch.testing.assert_close(box_frustum_contains(pts, identity_camera(), box, Z_MIN, Z_MAX),
                               expected)
    # The same points moved with the camera give the same answer.
    shift = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    moved = box_frustum_contains(pts - shift, identity_camera(tuple(shift.tolist())), box,
                                 Z_MIN, Z_MAX)
    torch.testing.assert_close(moved, expected)


@pytest.mark.parametrize("view", [0, 1])
@pytest.mark.parametrize("box", [(10.0, 8.0, 40.0, 30.0), (0.0, 0.0, 64.0, 48.0),
                                 (50.0, 2.0, 60.0, 45.0)])
def test_matches_halfspace_test_of_eight_corners(view, box):
    camera = look_at_cameras()[view]
    gen = torch.Generator().manual_seed(view)
    pts = (torch.rand(4000, 3, generator=gen, dtype=torch.float64) * 2 - 1) * 6
    got = box_frustum_contains(pts, camera, torch.tensor(box), 1.0, 7.0).numpy()
    expected = halfspace_contains(pts, camera, box, 1.0, 7.0)
    assert expected.sum() > 20  # the test means something
    np.testing.assert_array_equal(got, expected)


def test_object_probability_takes_max_over_views_and_boxes():
    cams = Cameras.cat([identity_camera(), identity_camera()])
    # view 0 looks down +z from the origin; view 1 sits 4 units further along +x.
    cams.world_to_cam[1, 0, 3] = -4.0
    pts = torch.tensor([
        [0.0, 0.0, 2.0],  # in both boxes of view 0
        [0.3, 0.0, 2.0],  # only in the wide box of view 0
        [4.0, 0.0, 2.0],  # only in view 1
        [2.0, 5.0, 2.0],  # nowhere
    ], dtype=torch.float64)
    boxes = [torch.tensor([[22.0, 14.0, 42.0, 34.0], [2.0, 14.0, 62.0, 34.0]]),
             torch.tensor([[22.0, 14.0, 42.0, 34.0]])]
    scores = [torch.tensor([0.8, 0.3]), torch.tensor([0.6])]
    prob = object_probability(pts, cams, boxes, scores, Z_MIN, Z_MAX, p_bg=0.05)
    torch.testing.assert_close(prob, torch.tensor([0.8, 0.3, 0.6, 0.05], dtype=torch.float64))


def test_object_probability_matches_per_box_loop():
    cams = look_at_cameras()
    gen = torch.Generator().manual_seed(1)
    pts = (torch.rand(2000, 3, generator=gen, dtype=torch.float64) * 2 - 1) * 3
    boxes = [torch.tensor([[5.0, 5.0, 30.0, 30.0], [20.0, 10.0, 60.0, 40.0]]),
             torch.tensor([[0.0, 20.0, 40.0, 48.0]])]
    scores = [torch.tensor([0.4, 0.7]), torch.tensor([0.9])]
    z_min, z_max = torch.tensor([0.5, 1.0]), torch.tensor([6.0, 5.0])
    best = torch.full((2000,), -torch.inf, dtype=torch.float64)
    for v in range(2):
        for b in range(len(boxes[v])):
            inside = box_frustum_contains(pts, cams[v], boxes[v][b], float(z_min[v]),
                                          float(z_max[v]))
            best = torch.where(inside, torch.clamp_min(best, float(scores[v][b])), best)
    expected = torch.where(torch.isinf(best), 0.01, best)
    got = object_probability(pts, cams, boxes, scores, z_min, z_max)
    torch.testing.assert_close(got, expected)
    assert (got == 0.01).any() and (got > 0.01).any()


def test_object_probability_without_boxes_is_background():
    pts = torch.randn(10, 3, dtype=torch.float64)
    prob = object_probability(pts, identity_camera(), [torch.zeros(0, 4)], [torch.zeros(0)],
                              Z_MIN, Z_MAX, p_bg=0.2)
    torch.testing.assert_close(prob, torch.full((10,), 0.2, dtype=torch.float64))


def test_first_draw_frequencies_follow_probabilities():
    prob = torch.tensor([0.8, 0.1, 0.05, 0.4, 0.01, 0.64])
    pts = torch.zeros(6, 3)
    gen = torch.Generator().manual_seed(0)
    draws = 20000
    counts = torch.zeros(6)
    for _ in range(draws):
        counts[box_focused_sample(pts, prob, 1, gen)] += 1
    p = prob / prob.sum()
    tol = SIGMAS * torch.sqrt(p * (1 - p) / draws)
    assert ((counts / draws - p).abs() <= tol).all(), (counts / draws, p)


def test_inclusion_frequencies_follow_successive_sampling_law():
    prob = torch.tensor([0.5, 0.3, 0.15, 0.05])
    pts = torch.zeros(4, 3)
    p = (prob / prob.sum()).tolist()
    # P(i in a 2-sample) = p_i + sum_{j != i} p_j p_i / (1 - p_j)
    law = torch.tensor([p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(4) if j != i)
                        for i in range(4)])
    gen = torch.Generator().manual_seed(1)
    draws = 10000
    counts = torch.zeros(4)
    for _ in range(draws):
        counts[box_focused_sample(pts, prob, 2, gen)] += 1
    tol = SIGMAS * torch.sqrt(law * (1 - law) / draws)
    assert ((counts / draws - law).abs() <= tol).all(), (counts / draws, law)


def test_samples_have_no_duplicates_and_are_seeded():
    gen = torch.Generator().manual_seed(2)
    pts = torch.randn(50, 3, generator=gen)
    prob = torch.rand(50, generator=gen) + 0.01
    a = box_focused_sample(pts, prob, 30, torch.Generator().manual_seed(7))
    b = box_focused_sample(pts, prob, 30, torch.Generator().manual_seed(7))
    assert a.dtype == torch.long and a.unique().numel() == 30
    torch.testing.assert_close(a, b)
    full = box_focused_sample(pts, prob, 50, gen)
    torch.testing.assert_close(full.sort().values, torch.arange(50))
    r = random_sample(50, 20, gen)
    assert r.unique().numel() == 20 and int(r.min()) >= 0 and int(r.max()) < 50


def brute_force_fps(points: np.ndarray, m: int, start: int) -> list[int]:
    chosen = [start]
    while len(chosen) < m:
        best, best_d = -1, -1.0
        for j in range(len(points)):
            d = min(float(((points[j] - points[c]) ** 2).sum()) for c in chosen)
            if d > best_d:
                best, best_d = j, d
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("n,m,start", [(60, 15, 0), (40, 40, 7), (25, 1, 3)])
def test_fps_matches_brute_force(n, m, start):
    pts = torch.rand(n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    got = farthest_point_sample(pts, m, start)
    assert got.tolist() == brute_force_fps(pts.numpy(), m, start)


def test_fps_spreads_points():
    line = torch.tensor([[float(i), 0.0, 0.0] for i in range(11)])
    assert farthest_point_sample(line, 3).tolist() == [0, 10, 5]


def test_bad_inputs_raise_clear_errors():
    pts = torch.zeros(5, 3)
    cam = identity_camera()
    box = torch.tensor([0.0, 0.0, 10.0, 10.0])
    with pytest.raises(ValueError, match=r"points must be \[N, 3\]"):
        box_frustum_contains(torch.zeros(5, 2), cam, box, Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match="0 < z_min < z_max"):
        box_frustum_contains(pts, cam, box, 2.0, 1.0)
    with pytest.raises(ValueError, match="single camera"):
        box_frustum_contains(pts, look_at_cameras(), box, Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match=r"box must have shape \[4\]"):
        box_frustum_contains(pts, cam, box[None], Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match="x0 <= x1"):
        box_frustum_contains(pts, cam, torch.tensor([10.0, 0.0, 0.0, 10.0]), Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match="one boxes and one scores tensor per view"):
        object_probability(pts, cam, [], [], Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match=r"scores must be \[1\]"):
        object_probability(pts, cam, [box[None]], [torch.zeros(2)], Z_MIN, Z_MAX)
    with pytest.raises(ValueError, match="one entry per view"):
        object_probability(pts, cam, [box[None]], [torch.ones(1)], torch.ones(3), Z_MAX)
    prob = torch.ones(5)
    with pytest.raises(ValueError, match="cannot draw m=6 of n=5"):
        box_focused_sample(pts, prob, 6)
    with pytest.raises(ValueError, match=r"prob must be \[5\]"):
        box_focused_sample(pts, torch.ones(4), 2)
    with pytest.raises(ValueError, match="non-negative"):
        box_focused_sample(pts, torch.tensor([1.0, -1, 1, 1, 1]), 2)
    with pytest.raises(ValueError, match="only 2 points have positive probability"):
        box_focused_sample(pts, torch.tensor([1.0, 0, 0, 1, 0]), 3)
    with pytest.raises(ValueError, match="cannot draw m=6 of n=5"):
        random_sample(5, 6)
    with pytest.raises(ValueError, match="cannot draw m=6 of n=5"):
        farthest_point_sample(pts, 6)
    with pytest.raises(ValueError, match="start must be in"):
        farthest_point_sample(pts, 2, start=5)
