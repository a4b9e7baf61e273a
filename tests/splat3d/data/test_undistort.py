import numpy as np
import pytest

from splat3d.data import DatasetError
from splat3d.data.camera_model import CameraModel
from splat3d.data.undistort import (
    distort,
    undistort_image,
    undistort_points,
    undistorted_camera,
)

CAMERAS = {
    "barrel": CameraModel(80.0, 82.0, 47.0, 37.0, 96, 72, k1=-0.12, k2=0.02, p1=0.002, p2=-0.001),
    "pincushion": CameraModel(80.0, 80.0, 48.0, 36.0, 96, 72, k1=0.08, k3=0.01),
    "tangential": CameraModel(70.0, 70.0, 50.0, 35.0, 96, 72, p1=0.01, p2=0.015),
}


def _scene(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth colour pattern over normalised (undistorted) image coordinates."""
    return np.stack([np.sin(3 * x) + np.cos(2 * y), x * y, np.cos(4 * x + y)], axis=-1)


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_newton_inverse_round_trips(name: str):
    cam = CAMERAS[name]
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.7, 0.7, (2, 500))
    xd, yd = distort(cam, x, y)
    xu, yu, ok = undistort_points(cam, xd, yd)
    assert ok.all()
    np.testing.assert_allclose(np.stack([xu, yu]), np.stack([x, y]), atol=1e-10)


def test_pinhole_is_unchanged():
    cam = CameraModel(80.0, 80.0, 48.0, 36.0, 96, 72)
    assert undistorted_camera(cam, "x") == cam


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_undistorted_view_only_uses_valid_pixels(name: str):
    cam = CAMERAS[name]
    new = undistorted_camera(cam, "x")
    assert new.is_pinhole and new.size == cam.size
    u, v = np.meshgrid(np.linspace(0, cam.width, 50), np.linspace(0, cam.height, 50))
    xd, yd = distort(cam, (u - new.cx) / new.fx, (v - new.cy) / new.fy)
    su, sv = cam.fx * xd + cam.cx, cam.fy * yd + cam.cy
    tol = 1e-6 * cam.width
    assert su.min() >= -tol and su.max() <= cam.width + tol
    assert sv.min() >= -tol and sv.max() <= cam.height + tol
    # ... and the crop is tight: some sample touches each border.
    assert min(su.min(), sv.min()) < 0.05 * cam.width


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_undistort_image_matches_the_pinhole_rendering(name: str):
    cam = CAMERAS[name]
    u, v = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
    x, y, ok = undistort_points(cam, (u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy)
    assert ok.all()
    distorted = _scene(x, y).astype(np.float32)  # what the real lens recorded
    new = undistorted_camera(cam, "x")
    out = undistort_image(distorted, cam, new)
    xs, ys = np.meshgrid((np.arange(new.width) + 0.5 - new.cx) / new.fx,
                         (np.arange(new.height) + 0.5 - new.cy) / new.fy)
    expected = _scene(xs, ys)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=0.02)  # bilinear error of a smooth image
    nearest = undistort_image(distorted, cam, new, nearest=True)
    np.testing.assert_allclose(nearest, expected, atol=0.15)


def test_non_invertible_distortion_is_reported():
    cam = CameraModel(30.0, 30.0, 48.0, 36.0, 96, 72, k1=-0.9)
    with pytest.raises(DatasetError, match=r"frame 'a'.*not invertible at the"):
        undistorted_camera(cam, "frame 'a'")
