"""Rendered rooms: instance masks and 2D boxes agree with the ground-truth 3D boxes projected
by a float64 pinhole written here; cameras stay in the free middle of the room."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from detection.synthetic.render import (
    RenderConfig,
    load_views,
    mask_boxes,
    render_room,
    room_cameras,
    save_views,
)
from detection.synthetic.rooms import RoomConfig, generate_room

CONFIG = RenderConfig(num_views=8, width=64, height=48)


@pytest.fixture(scope="module", params=["axis", "yaw"])
def rendered(request):
    room = generate_room(RoomConfig(object_density=400.0, room_density=60.0,
                                    box_style=request.param), 11)
    return room, render_room(room, CONFIG, seed=11)


def box_corners(box: np.ndarray) -> np.ndarray:
    """The 8 corners [8, 3] of a yawed box, float64."""
    c, s = np.cos(box[6]), np.sin(box[6])
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    signs = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))
    return (signs * box[3:6]) @ rot.T + box[:3]


def project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    uvw = cam @ K.T
    return uvw[:, :2] / uvw[:, 2:], cam[:, 2]


def test_mask_boxes_lie_in_the_projected_ground_truth_boxes(rendered):
    room, views = rendered
    K = views.cameras.K.double().numpy()
    w2c = views.cameras.world_to_cam.double().numpy()
    checked, ious = 0, []
    for v in range(len(views.cameras)):
        for box2d, k in zip(views.boxes2d[v].numpy(), views.box_instances[v].tolist(),
                            strict=True):
            uv, z = project(box_corners(room.boxes.params[k - 1]), K[v], w2c[v])
            if (z <= 0.05).any():
                continue  # a corner behind the camera: the projected rectangle is unbounded
            lo = np.clip(uv.min(0), 0, [CONFIG.width, CONFIG.height])
            hi = np.clip(uv.max(0), 0, [CONFIG.width, CONFIG.height])
            # 2 px: a surface disc with alpha >= 0.5 reaches about one sigma past the surface
            assert (box2d[:2] >= lo - 2).all() and (box2d[2:] <= hi + 2).all(), (v, k)
            inter = np.prod(np.clip(np.minimum(box2d[2:], hi) - np.maximum(box2d[:2], lo), 0,
                                    None))
            union = np.prod(box2d[2:] - box2d[:2]) + np.prod(hi - lo) - inter
            ious.append(inter / union)
            checked += 1
    assert checked >= 4
    # the projected corners bound the object loosely (a chair's back does not fill its box)
    assert np.median(ious) > 0.6


def test_every_masked_pixel_belongs_to_a_visible_object(rendered):
    room, views = rendered
    for v in range(len(views.cameras)):
        mask = views.masks[v]
        ids = set(torch.unique(mask).tolist()) - {0}
        assert ids <= set(range(1, len(room.boxes) + 1))
        # back-project masked pixels with the rendered depth: they land in their object's box
        ys, xs = torch.nonzero(mask > 0, as_tuple=True)
        if len(ys) == 0:
            continue
        z = views.depth[v, ys, xs].double().numpy()
        K = views.cameras.K[v].double().numpy()
        c2w = np.linalg.inv(views.cameras.world_to_cam[v].double().numpy())
        pix = np.stack([xs.numpy() + 0.5, ys.numpy() + 0.5, np.ones(len(xs))], -1)
        cam = (pix @ np.linalg.inv(K).T) * z[:, None]
        world = cam @ c2w[:3, :3].T + c2w[:3, 3]
        inside = []
        for p, k in zip(world, mask[ys, xs].tolist(), strict=True):
            box = room.boxes.params[k - 1]
            c, s = np.cos(box[6]), np.sin(box[6])
            d = p - box[:3]
            local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2]])
            inside.append((np.abs(local) <= box[3:6] / 2 + 0.1).all())
        # depth is an alpha-weighted mean, so a few edge pixels mix in the wall behind
        assert np.mean(inside) > 0.9


def test_cameras_look_out_from_the_free_disc(rendered):
    room, views = rendered
    centers = views.cameras.centers.double().numpy()
    assert (np.hypot(centers[:, 0], centers[:, 1]) <= room.free_radius).all()
    assert set(np.round(centers[:, 2], 4)) == set(CONFIG.eye_heights)
    forward = views.cameras.cam_to_world[:, :3, 2].double().numpy()  # OpenCV +z
    assert (forward[:, 2] < 0).all()  # looking slightly down
    outward = (forward[:, :2] * centers[:, :2]).sum(1)
    assert (outward > 0).all()


def test_mask_boxes_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 4, (9, 11), generator=gen)
    mask[:, :3] = 0
    boxes, ids = mask_boxes(mask, min_pixels=3)
    expected = []
    for k in range(1, 4):
        pts = [(x, y) for y in range(9) for x in range(11) if mask[y, x] == k]
        if len(pts) >= 3:
            xs, ys = zip(*pts, strict=True)
            expected.append((k, [min(xs), min(ys), max(xs) + 1, max(ys) + 1]))
    assert ids.tolist() == [k for k, _ in expected]
    torch.testing.assert_close(boxes, torch.tensor([b for _, b in expected], dtype=torch.float32))


def test_save_load_round_trip(rendered, tmp_path):
    _, views = rendered
    save_views(tmp_path / "views.npz", views)
    back = load_views(tmp_path / "views.npz")
    torch.testing.assert_close(back.images, views.images, atol=0.51 / 255, rtol=0)
    assert torch.equal(back.masks, views.masks)
    torch.testing.assert_close(back.depth, views.depth)
    torch.testing.assert_close(back.cameras.world_to_cam, views.cameras.world_to_cam)
    for a, b in zip(back.boxes2d, views.boxes2d, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(OSError, match="views"):
        np.savez(tmp_path / "bad.npz", images=np.zeros(1))
        load_views(tmp_path / "bad.npz")


def test_trajectory_is_seeded():
    room = generate_room(RoomConfig(object_density=50.0, room_density=10.0), 2)
    a, b = room_cameras(room, CONFIG, 1), room_cameras(room, CONFIG, 1)
    assert torch.equal(a.world_to_cam, b.world_to_cam)
    with pytest.raises(ValueError, match="num_views"):
        room_cameras(room, RenderConfig(num_views=0))
