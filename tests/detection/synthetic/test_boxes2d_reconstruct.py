"""Simulated 2D detections (noise statistics, limits) and the reconstruction inputs (seed
points re-project onto their pixels and depths; guided images differ only on outlines)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detection.method.boundary import instance_boundaries
from detection.synthetic.boxes2d import BoxNoise, noisy_detections
from detection.synthetic.reconstruct import ReconConfig, seed_points, views_dataset
from detection.synthetic.render import RenderConfig, render_room
from detection.synthetic.rooms import RoomConfig, generate_room


def test_noiseless_detections_are_the_ground_truth():
    boxes = torch.tensor([[1.0, 2.0, 10.0, 20.0], [30.0, 5.0, 60.0, 40.0]])
    noise = BoxNoise(jitter=0.0, drop=0.0, false_positives=0.0, score_range=(0.7, 0.7))
    out, scores = noisy_detections(boxes, 64, 48, noise, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, boxes)
    torch.testing.assert_close(scores, torch.full((2,), 0.7))


def test_noise_statistics():
    gen = torch.Generator().manual_seed(0)
    box = torch.tensor([[100.0, 100.0, 200.0, 150.0]])
    noise = BoxNoise(jitter=0.1, drop=0.25, false_positives=0.0)
    kept, shifts = 0, []
    for _ in range(2000):
        out, scores = noisy_detections(box, 1000, 1000, noise, gen)
        if len(out):
            kept += 1
            shifts.append((out[0] - box[0]) / torch.tensor([100.0, 50.0, 100.0, 50.0]))
            assert 0.6 <= float(scores[0]) <= 1.0
    assert kept / 2000 == pytest.approx(0.75, abs=0.03)
    std = torch.stack(shifts).std(0)
    torch.testing.assert_close(std, torch.full((4,), 0.1), atol=0.01, rtol=0)


def test_false_positives_are_valid_low_score_boxes():
    gen = torch.Generator().manual_seed(1)
    noise = BoxNoise(false_positives=3.0)
    counts = []
    for _ in range(300):
        out, scores = noisy_detections(torch.zeros(0, 4), 64, 48, noise, gen)
        counts.append(len(out))
        assert (out[:, 0] <= out[:, 2]).all() and (out[:, 1] <= out[:, 3]).all()
        assert (out >= 0).all() and (out[:, [0, 2]] <= 64).all() and (out[:, [1, 3]] <= 48).all()
        assert ((scores >= 0.05) & (scores <= 0.4)).all()
    assert np.mean(counts) == pytest.approx(3.0, abs=0.3)


def test_bad_noise_config():
    with pytest.raises(ValueError, match="drop"):
        BoxNoise(drop=1.5)
    with pytest.raises(ValueError, match="score_range"):
        BoxNoise(score_range=(0.9, 0.1))


@pytest.fixture(scope="module")
def room_views():
    room = generate_room(RoomConfig(object_density=300.0, room_density=50.0), 4)
    return room, render_room(room, RenderConfig(num_views=6, width=48, height=36), seed=4)


def test_seed_points_reproject_to_their_pixels(room_views):
    _, views = room_views
    points, colors = seed_points(views, views.images, 500, torch.Generator().manual_seed(0))
    assert points.shape == (500, 3) and colors.shape == (500, 3)
    # every point lies on the ray of a pixel with that depth in some view: search brute force
    K = views.cameras.K.double().numpy()
    w2c = views.cameras.world_to_cam.double().numpy()
    depth = views.depth.double().numpy()
    for p, col in zip(points.double().numpy()[:50], colors.numpy()[:50], strict=True):
        found = False
        for v in range(len(K)):
            cam = w2c[v, :3, :3] @ p + w2c[v, :3, 3]
            if cam[2] <= 0:
                continue
            u = K[v] @ cam / cam[2]
            x, y = u[0] - 0.5, u[1] - 0.5
            xi, yi = int(round(x)), int(round(y))
            if abs(x - xi) < 1e-3 and abs(y - yi) < 1e-3 and 0 <= xi < 48 and 0 <= yi < 36:
                if abs(depth[v, yi, xi] - cam[2]) < 1e-4 and np.allclose(
                        views.images[v, yi, xi].numpy(), col):
                    found = True
                    break
        assert found


def test_guided_dataset_differs_only_on_outlines(room_views):
    room, views = room_views
    config = ReconConfig(seed_points=300, boundary_thickness=1)
    plain = views_dataset(views, room.instance_labels, False, config)
    guided = views_dataset(views, room.instance_labels, True, config)
    changed = (plain.images != guided.images).any(-1)  # [V, H, W]
    outline = torch.stack([instance_boundaries(m, 1) for m in views.masks])
    assert changed.any()
    assert not (changed & ~outline).any()
    assert plain.splits["train"] == list(range(6)) and plain.splits["test"] == [0]
    assert plain.points.shape == (300, 3)
