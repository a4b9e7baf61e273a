"""The one place where viser's camera and :class:`splat3d.Cameras` meet.

A viser camera (browser viewport, frustum node) is described by a quaternion ``wxyz`` and a
``position`` -- the camera-to-world rotation and translation, already in the OpenCV
convention (x right, y down, z forward) -- plus a *vertical* field of view and an aspect
ratio (width / height). The browser draws with a centred principal point, so the matching
pinhole camera for a ``W x H`` image is

    fy = H / (2 tan(fov_y / 2)),   fx = W / (2 tan(fov_y / 2) aspect),   (cx, cy) = (W/2, H/2)

(``fx == fy`` whenever ``W / H`` equals ``aspect``; after rounding the image size, ``fx`` keeps
the browser's horizontal extent exactly so a server-side image lines up with the viewport).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float

from splat3d.cameras import Cameras
from splat3d.conventions import invert_rigid
from splat3d.gaussians import quat_to_rotmat


@dataclass(frozen=True)
class ViserPose:
    """A camera as viser describes it."""

    wxyz: tuple[float, float, float, float]
    """Unit quaternion of the camera-to-world rotation (OpenCV camera axes)."""
    position: tuple[float, float, float]
    """Camera centre in world coordinates."""
    fov_y: float
    """Full vertical field of view, radians."""
    aspect: float
    """Image width divided by height."""

    @property
    def rotation(self) -> Float[np.ndarray, "3 3"]:
        """Camera-to-world rotation matrix (columns: camera x, y, z axes in the world)."""
        return quat_to_rotmat(torch.tensor(self.wxyz, dtype=torch.float64)).numpy()


def rotmat_to_wxyz(rotation: Float[np.ndarray, "3 3"]) -> Float[np.ndarray, " 4"]:
    """Unit quaternion ``(w, x, y, z)`` with ``w >= 0`` of a rotation matrix.

    Uses the largest of the four squared components to divide by (Shepperd's method),
    which stays accurate for every rotation, including half turns.
    """
    r = np.asarray(rotation, dtype=np.float64)
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    squares = np.array([1.0 + trace, 1.0 + 2 * r[0, 0] - trace,
                        1.0 + 2 * r[1, 1] - trace, 1.0 + 2 * r[2, 2] - trace])
    k = int(np.argmax(squares))
    big = 0.5 * math.sqrt(max(squares[k], 0.0))
    # Off-diagonal sums and differences give the other three components times 4 * big.
    w_x, w_y, w_z = r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]
    x_y, x_z, y_z = r[1, 0] + r[0, 1], r[0, 2] + r[2, 0], r[2, 1] + r[1, 2]
    rows = (
        (big, w_x, w_y, w_z),
        (w_x, big, x_y, x_z),
        (w_y, x_y, big, y_z),
        (w_z, x_z, y_z, big),
    )
    q = np.array([v if i == k else v / (4.0 * big) for i, v in enumerate(rows[k])])
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def render_size(aspect: float, max_side: int,
                max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` with the given aspect whose longer side is ``max_side`` pixels,
    shrunk (keeping the aspect) until ``width * height <= max_pixels`` when that is given.

    The aspect comes from the browser, so the pixel bound is what keeps a render's memory
    in check whatever size is asked for.
    """
    if aspect <= 0 or not math.isfinite(aspect):
        raise ValueError(f"render_size: aspect must be a positive number, got {aspect}")
    if max_side < 1 or (max_pixels is not None and max_pixels < 1):
        raise ValueError(f"render_size: max_side={max_side} and max_pixels={max_pixels} "
                         f"must be >= 1")
    elongation = max(aspect, 1.0 / aspect)  # long side / short side
    if max_pixels is not None and max_side * max_side > max_pixels * elongation:
        max_side = max(1, math.floor(math.sqrt(max_pixels * elongation)))
    short = max(1, round(max_side / elongation))
    if max_pixels is not None and max_side * short > max_pixels:
        # Rounding the short side up (or to its 1-pixel floor) overshot: trim the long side.
        max_side = max(1, max_pixels // short)
    return (max_side, short) if aspect >= 1.0 else (short, max_side)


def cameras_from_viser(pose: ViserPose, width: int, height: int) -> Cameras:
    """A one-camera :class:`Cameras` rendering ``width x height`` exactly what viser shows."""
    if not 0 < pose.fov_y < math.pi:
        raise ValueError(f"cameras_from_viser: fov_y must be in (0, pi) radians, got {pose.fov_y}")
    tan_half = math.tan(0.5 * pose.fov_y)
    fy = height / (2.0 * tan_half)
    fx = width / (2.0 * tan_half * pose.aspect)
    c2w = torch.eye(4, dtype=torch.float64)
    c2w[:3, :3] = torch.from_numpy(pose.rotation)
    c2w[:3, 3] = torch.tensor(pose.position, dtype=torch.float64)
    K = Cameras.intrinsics(fx, fy, width / 2.0, height / 2.0)
    # Invert in float64 (the pose arrives in float64), store float32 like every Cameras.
    return Cameras(K, invert_rigid(c2w).float()[None], int(width), int(height))


def viser_pose_from_cameras(cameras: Cameras, index: int = 0) -> ViserPose:
    """The viser pose of camera ``index`` (vertical fov from ``fy``; aspect from the image).

    viser cannot show an off-centre principal point or non-square pixels; those are dropped.
    """
    c2w = cameras.cam_to_world[index].detach().double().cpu().numpy()
    fy = float(cameras.K[index, 1, 1])
    fov_y = 2.0 * math.atan(0.5 * cameras.height / fy)
    wxyz = rotmat_to_wxyz(c2w[:3, :3])
    return ViserPose(tuple(float(v) for v in wxyz), tuple(float(v) for v in c2w[:3, 3]),
                     fov_y, cameras.width / cameras.height)
