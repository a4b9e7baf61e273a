"""Removing OpenCV lens distortion: point mapping, the undistorted camera and image remapping.

Written here rather than taken from OpenCV so the core keeps its small dependency set.

* :func:`distort` applies the forward model of :mod:`splat3d.data.camera_model` to
  normalised coordinates.
* :func:`undistort_points` inverts it iteratively: Newton's method on
  ``distort(p) - p_d = 0`` with the analytic 2x2 Jacobian, started at ``p = p_d`` (COLMAP's
  ``IterativeUndistortion`` uses the same idea with a numerical Jacobian; OpenCV's
  ``undistortPoints`` a fixed-point iteration).
* :func:`undistorted_camera` picks the pinhole camera of the same image size whose view is
  the largest axis-aligned rectangle inside the undistorted image of the original frame,
  so every output pixel has a source pixel (OpenCV's ``getOptimalNewCameraMatrix`` with
  ``alpha=0`` makes the same choice).
* :func:`undistort_image` backward-warps: each output pixel centre is pushed through the
  forward model into the distorted image and sampled there bilinearly (or by nearest
  neighbour, for depth maps).
"""

from __future__ import annotations

import numpy as np

from splat3d.data.camera_model import CameraModel
from splat3d.data.errors import DatasetError

NEWTON_STEPS = 50
NEWTON_TOL = 1e-12


def distort(cam: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distorted normalised coordinates of undistorted ones (same shapes, float64)."""
    r2 = x * x + y * y
    radial = 1.0 + r2 * (cam.k1 + r2 * (cam.k2 + r2 * cam.k3))
    xd = x * radial + 2.0 * cam.p1 * x * y + cam.p2 * (r2 + 2.0 * x * x)
    yd = y * radial + cam.p1 * (r2 + 2.0 * y * y) + 2.0 * cam.p2 * x * y
    return xd, yd


def _jacobian(cam: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    r2 = x * x + y * y
    radial = 1.0 + r2 * (cam.k1 + r2 * (cam.k2 + r2 * cam.k3))
    dradial_dr2 = cam.k1 + r2 * (2.0 * cam.k2 + 3.0 * cam.k3 * r2)
    dr_dx, dr_dy = 2.0 * x * dradial_dr2, 2.0 * y * dradial_dr2
    a = radial + x * dr_dx + 2.0 * cam.p1 * y + 6.0 * cam.p2 * x  # d x_d / d x
    b = x * dr_dy + 2.0 * cam.p1 * x + 2.0 * cam.p2 * y  # d x_d / d y
    c = y * dr_dx + 2.0 * cam.p1 * x + 2.0 * cam.p2 * y  # d y_d / d x
    d = radial + y * dr_dy + 6.0 * cam.p1 * y + 2.0 * cam.p2 * x  # d y_d / d y
    return a, b, c, d


def undistort_points(
    cam: CameraModel, xd: np.ndarray, yd: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invert :func:`distort` by Newton's method.

    Returns:
        ``(x, y, converged)``: undistorted normalised coordinates and a boolean mask of the
        points whose residual fell below ``1e-12`` (a point outside the region where the
        model is invertible does not converge).
    """
    xd = np.asarray(xd, dtype=np.float64)
    yd = np.asarray(yd, dtype=np.float64)
    x, y = xd.copy(), yd.copy()
    for _ in range(NEWTON_STEPS):
        fx, fy = distort(cam, x, y)
        rx, ry = fx - xd, fy - yd
        if max(np.abs(rx).max(initial=0.0), np.abs(ry).max(initial=0.0)) < NEWTON_TOL:
            break
        a, b, c, d = _jacobian(cam, x, y)
        det = a * d - b * c
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        x = x - (d * rx - b * ry) / det
        y = y - (a * ry - c * rx) / det
    fx, fy = distort(cam, x, y)
    converged = np.isfinite(fx) & (np.abs(fx - xd) < 1e-9) & (np.abs(fy - yd) < 1e-9)
    return x, y, converged


def undistorted_camera(cam: CameraModel, where: str, samples: int = 64) -> CameraModel:
    """The distortion-free camera, same image size, seeing only valid source pixels.

    The four image edges (pixel-extent borders ``0`` and ``width``/``height``) are sampled,
    undistorted, and the largest axis-aligned rectangle inside them is mapped onto the image.
    A camera without distortion is returned unchanged.

    Raises:
        DatasetError: if the distortion cannot be inverted at the image border.
    """
    if cam.is_pinhole:
        return cam
    t = np.linspace(0.0, 1.0, samples)
    w, h = float(cam.width), float(cam.height)
    edges = {  # pixel coordinates along each border
        "left": (np.zeros_like(t), t * h), "right": (np.full_like(t, w), t * h),
        "top": (t * w, np.zeros_like(t)), "bottom": (t * w, np.full_like(t, h)),
    }
    und = {}
    for name, (u, v) in edges.items():
        x, y, ok = undistort_points(cam, (u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy)
        if not ok.all():
            raise DatasetError(
                f"{where}: lens distortion (k1={cam.k1}, k2={cam.k2}, p1={cam.p1}, p2={cam.p2},"
                f" k3={cam.k3}) is not invertible at the {name} image border")
        und[name] = (x, y)
    x_min, x_max = und["left"][0].max(), und["right"][0].min()
    y_min, y_max = und["top"][1].max(), und["bottom"][1].min()
    if not (x_max > x_min and y_max > y_min):
        raise DatasetError(f"{where}: lens distortion folds the image; cannot undistort it")
    fx, fy = w / (x_max - x_min), h / (y_max - y_min)
    return CameraModel(fx=fx, fy=fy, cx=-x_min * fx, cy=-y_min * fy,
                       width=cam.width, height=cam.height)


def bilinear_sample(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample ``image`` [H,W,C] at continuous pixel coordinates (centres at ``i + 0.5``).

    Coordinates outside the image are clamped to the border pixels.
    """
    h, w = image.shape[:2]
    px = np.clip(u - 0.5, 0.0, w - 1.0)
    py = np.clip(v - 0.5, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(px).astype(np.int64), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(py).astype(np.int64), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax = (px - x0)[..., None].astype(np.float32)
    ay = (py - y0)[..., None].astype(np.float32)
    top = image[y0, x0] * (1 - ax) + image[y0, x1] * ax
    bottom = image[y1, x0] * (1 - ax) + image[y1, x1] * ax
    return top * (1 - ay) + bottom * ay


def undistort_image(
    image: np.ndarray, cam: CameraModel, target: CameraModel, nearest: bool = False
) -> np.ndarray:
    """Resample ``image`` [H,W,C] taken by ``cam`` into the pinhole camera ``target``.

    ``nearest=True`` picks the nearest source pixel instead of interpolating (for depth, where
    blending across an occlusion edge invents surfaces). Returns float32 [h,w,C] with
    ``target``'s size.
    """
    u = np.arange(target.width) + 0.5
    v = np.arange(target.height) + 0.5
    x, y = np.meshgrid((u - target.cx) / target.fx, (v - target.cy) / target.fy)  # [h, w]
    xd, yd = distort(cam, x, y)
    su, sv = cam.fx * xd + cam.cx, cam.fy * yd + cam.cy
    image = np.asarray(image, dtype=np.float32)
    if nearest:
        h, w = image.shape[:2]
        cols = np.clip(np.floor(su), 0, w - 1).astype(np.int64)
        rows = np.clip(np.floor(sv), 0, h - 1).astype(np.int64)
        return image[rows, cols]
    return bilinear_sample(image, su, sv)
