import math

import pytest
import torch

from splat3d import Cameras, conventions


def random_rigid(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.linalg.det(q))[:, None, None]
    m = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    m[:, :3, :3] = q
    m[:, :3, 3] = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return m


def test_opengl_opencv_round_trip_and_axes():
    c2w = random_rigid(5)
    cv = conventions.opengl_to_opencv(c2w)
    torch.testing.assert_close(conventions.opencv_to_opengl(cv), c2w)
    # OpenGL looks down -z; OpenCV down +z: the viewing directions agree.
    torch.testing.assert_close(cv[:, :3, 2], -c2w[:, :3, 2])
    torch.testing.assert_close(cv[:, :3, 1], -c2w[:, :3, 1])
    torch.testing.assert_close(cv[:, :3, 0], c2w[:, :3, 0])


def test_invert_rigid_matches_general_inverse():
    m = random_rigid(4, seed=1)
    torch.testing.assert_close(conventions.invert_rigid(m), torch.linalg.inv(m))


def test_fov_focal_round_trip():
    f = conventions.fov_to_focal(0.9, 640)
    assert math.isclose(conventions.focal_to_fov(f, 640), 0.9)
    assert math.isclose(conventions.fov_to_focal(math.pi / 2, 200), 100.0)


def project(cams: Cameras, pts: torch.Tensor) -> torch.Tensor:
    pc = pts @ cams.world_to_cam[0, :3, :3].T + cams.world_to_cam[0, :3, 3]
    uv = pc @ cams.K[0].T
    return torch.cat([uv[:, :2] / uv[:, 2:], pc[:, 2:]], 1)


def test_look_at_centres_the_target_and_keeps_up_up():
    cams = Cameras.from_look_at(torch.tensor([[3.0, -4.0, 2.0]]), torch.tensor([[0.5, 0.0, 0.3]]),
                                fov_x=1.0, width=80, height=60)
    p = project(cams, torch.tensor([[0.5, 0.0, 0.3], [0.5, 0.0, 1.3]]))
    torch.testing.assert_close(p[0, :2], torch.tensor([40.0, 30.0]))
    assert p[0, 2] > 0, "target must be in front of the camera"
    assert p[1, 1] < p[0, 1], "a point above the target appears higher in the image"
    torch.testing.assert_close(cams.centers[0], torch.tensor([3.0, -4.0, 2.0]))


def test_blender_camera_sees_what_is_in_front_of_it():
    # A Blender camera at +y=5 looking at the origin along -y, up +z (OpenGL: it looks down
    # its own -z, which is world -y, so its z axis is world +y).
    c2w_gl = torch.tensor([[-1.0, 0, 0, 0], [0, 0, 1, 5], [0, 1, 0, 0], [0, 0, 0, 1]])
    K = Cameras.intrinsics(50.0, 50.0, 32.0, 24.0)
    cams = Cameras.from_opengl_c2w(c2w_gl[None], K, 64, 48)
    p = project(cams, torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(p[0], torch.tensor([32.0, 24.0, 5.0]))
    assert p[1, 1] < p[0, 1]
    torch.testing.assert_close(conventions.opencv_to_opengl(cams.cam_to_world), c2w_gl[None])


def test_resized_scales_intrinsics_and_batch_ops():
    c2w = conventions.look_at(torch.tensor([[0.0, -3, 0], [3.0, 0, 0]]), torch.zeros(2, 3),
                              torch.tensor([0.0, 0, 1]))
    cams = Cameras.from_fov(c2w, 0.8, 100, 50)
    half = cams.resized(50, 25)
    torch.testing.assert_close(half.K[:, :2] * 2, cams.K[:, :2])
    assert len(Cameras.cat([cams, cams[1]])) == 3
    assert cams[-1].world_to_cam.shape == (1, 4, 4)
    with pytest.raises(ValueError, match="image size"):
        Cameras.cat([cams, half])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="K must be"):
        Cameras(torch.eye(3), torch.eye(4)[None], 4, 4)
    with pytest.raises(ValueError, match="parallel"):
        conventions.look_at(torch.zeros(3), torch.tensor([0.0, 0, 1]), torch.tensor([0.0, 0, 1]))
