"""viser camera <-> splat3d.Cameras: round trips and projection of the view axis."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from splat3d.cameras import Cameras  # noqa: E402
from splat3d.gaussians import quat_to_rotmat  # noqa: E402
from viewer.camera_bridge import (  # noqa: E402
    ViserPose,
    cameras_from_viser,
    render_size,
    rotmat_to_wxyz,
    viser_pose_from_cameras,
)

ATOL = 1e-5
PIXEL_ATOL = 1e-3
"""Cameras store float32, so projected pixels agree to about 1e-4 px."""


def random_wxyz(seed: int) -> tuple[float, float, float, float]:
    q = torch.nn.functional.normalize(torch.randn(4, generator=torch.Generator().manual_seed(seed),
                                                  dtype=torch.float64), dim=0)
    return tuple(float(v) for v in q)


def project(cameras: Cameras, point: torch.Tensor) -> torch.Tensor:
    """Brute-force pinhole projection of a world point by camera 0 (pixel coordinates)."""
    p = cameras.world_to_cam[0].double() @ torch.cat([point.double(), torch.ones(1)])
    uvw = cameras.K[0].double() @ p[:3]
    return uvw[:2] / uvw[2]


@pytest.mark.parametrize("seed", range(8))
def test_rotmat_to_wxyz_inverts_quat_to_rotmat(seed):
    wxyz = np.array(random_wxyz(seed))
    rot = quat_to_rotmat(torch.from_numpy(wxyz)).numpy()
    back = rotmat_to_wxyz(rot)
    assert back[0] >= 0
    np.testing.assert_allclose(back, wxyz * np.sign(wxyz[0]), atol=1e-12)


@pytest.mark.parametrize("angle_axis", [(math.pi, (1, 0, 0)), (math.pi, (0, 1, 0)),
                                        (math.pi, (0, 0, 1)), (math.pi, (1, 1, 0)),
                                        (0.0, (0, 0, 1))])
def test_rotmat_to_wxyz_half_turns_and_identity(angle_axis):
    angle, axis = angle_axis
    axis = np.array(axis, dtype=np.float64) / np.linalg.norm(axis)
    wxyz = np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])
    rot = quat_to_rotmat(torch.from_numpy(wxyz)).numpy()
    np.testing.assert_allclose(quat_to_rotmat(torch.from_numpy(rotmat_to_wxyz(rot))).numpy(),
                               rot, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("size", [(640, 480), (300, 500), (257, 129)])
def test_point_straight_ahead_projects_to_image_centre(seed, size):
    width, height = size
    pose = ViserPose(random_wxyz(seed), (0.3, -1.2, 2.0), fov_y=0.9, aspect=width / height)
    cams = cameras_from_viser(pose, width, height)
    forward = torch.from_numpy(pose.rotation[:, 2])
    ahead = torch.tensor(pose.position, dtype=torch.float64) + 3.7 * forward
    torch.testing.assert_close(project(cams, ahead), torch.tensor([width / 2, height / 2],
                                                                  dtype=torch.float64),
                               atol=PIXEL_ATOL, rtol=0)


def test_vertical_fov_spans_the_image_height_and_aspect_the_width():
    # A point at the top edge of the vertical fov lands on row 0; one at the right edge
    # of the horizontal extent (tan(fov/2) * aspect) lands on the last column edge.
    width, height, fov = 400, 200, 1.1
    pose = ViserPose((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0), fov, width / height)
    cams = cameras_from_viser(pose, width, height)
    t = math.tan(fov / 2)
    torch.testing.assert_close(project(cams, torch.tensor([0.0, -t, 1.0])),
                               torch.tensor([width / 2, 0.0], dtype=torch.float64),
                               atol=PIXEL_ATOL, rtol=0)
    torch.testing.assert_close(project(cams, torch.tensor([t * 2.0, 0.0, 1.0])),
                               torch.tensor([float(width), height / 2], dtype=torch.float64),
                               atol=PIXEL_ATOL, rtol=0)


def test_rounded_render_size_keeps_the_browser_extent():
    # 1000x333 at max side 100 rounds to 100x33; fx must keep the browser's horizontal
    # extent, so the right edge of the view still maps to the last pixel column.
    aspect, fov = 1000 / 333, 0.8
    width, height = render_size(aspect, 100)
    assert (width, height) == (100, 33)
    cams = cameras_from_viser(ViserPose((1.0, 0.0, 0.0, 0.0), (0, 0, 0), fov, aspect),
                              width, height)
    edge = torch.tensor([math.tan(fov / 2) * aspect, 0.0, 1.0])
    assert float(project(cams, edge)[0]) == pytest.approx(width, abs=PIXEL_ATOL)


@pytest.mark.parametrize("seed", range(5))
def test_viser_to_cameras_to_viser_round_trip(seed):
    pose = ViserPose(random_wxyz(seed), (1.0, 2.0, -0.5), fov_y=0.7, aspect=1.5)
    back = viser_pose_from_cameras(cameras_from_viser(pose, 300, 200))
    q, q_back = np.array(pose.wxyz), np.array(back.wxyz)
    np.testing.assert_allclose(q_back * np.sign(q_back @ q), q, atol=ATOL)
    np.testing.assert_allclose(back.position, pose.position, atol=ATOL)
    assert back.fov_y == pytest.approx(pose.fov_y, abs=ATOL)
    assert back.aspect == pytest.approx(pose.aspect)


def test_cameras_to_viser_to_cameras_round_trip():
    eye = torch.tensor([[0.0, -4.0, 1.0], [3.0, 1.0, 2.0], [-2.0, 2.0, -1.0]])
    cams = Cameras.from_look_at(eye, torch.zeros(3, 3), fov_x=0.9, width=320, height=240)
    for i in range(len(cams)):
        back = cameras_from_viser(viser_pose_from_cameras(cams, i), cams.width, cams.height)
        torch.testing.assert_close(back.K[0], cams.K[i], atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(back.world_to_cam[0], cams.world_to_cam[i], atol=ATOL,
                                   rtol=0)


def test_invalid_inputs_name_the_problem():
    with pytest.raises(ValueError, match="fov_y"):
        cameras_from_viser(ViserPose((1.0, 0, 0, 0), (0, 0, 0), 0.0, 1.0), 10, 10)
    with pytest.raises(ValueError, match="aspect"):
        render_size(0.0, 100)
    assert render_size(0.5, 200) == (100, 200)


@pytest.mark.parametrize("aspect", [1.0, 4 / 3, 0.25, 1000 / 333, 1e9, 1e-9])
@pytest.mark.parametrize("max_side", [8, 2048, 8192, 65_536, 10**12])
def test_render_size_never_exceeds_the_pixel_cap(aspect, max_side):
    cap = 512 * 512
    width, height = render_size(aspect, max_side, cap)
    assert 1 <= width * height <= cap
    if max_side <= 512 and 0.5 <= aspect <= 2:
        assert (width, height) == render_size(aspect, max_side), "under the cap: unchanged"
    if 0.5 <= aspect <= 2:  # a capped render keeps the browser's shape
        assert width / height == pytest.approx(aspect, rel=0.01)
