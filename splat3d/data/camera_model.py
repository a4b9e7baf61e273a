"""Per-frame camera intrinsics as stored by dataset formats, before undistortion.

:class:`CameraModel` is the pinhole camera plus the OpenCV (Brown-Conrady) lens distortion
that nerfstudio's ``OPENCV`` model and COLMAP's ``SIMPLE_RADIAL``, ``RADIAL`` and ``OPENCV``
models all reduce to (the missing coefficients are zero)::

    r2 = x^2 + y^2,   radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3
    x_d = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
    y_d = y radial + p1 (r2 + 2 y^2) + 2 p2 x y
    u = fx x_d + cx,  v = fy y_d + cy

with ``(x, y)`` normalised camera coordinates (``X/Z, Y/Z``) and ``(u, v)`` continuous pixel
coordinates whose pixel centres sit at ``i + 0.5`` (COLMAP's convention, and
:class:`~splat3d.cameras.Cameras`'). See the OpenCV ``calib3d`` documentation and COLMAP's
``src/colmap/sensor/models.h`` for the model definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from splat3d.data.errors import DatasetError

MAX_IMAGE_SIDE = 32768
"""Largest image width or height accepted, in pixels. A dataset file's ``w``/``h`` decide the
size of buffers allocated before any pixel is read (an image of 32768^2 RGB float32 is
already 12 GiB), so a corrupt or hostile size fails here instead of exhausting memory."""


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one image at its stored resolution, with optional OpenCV distortion."""

    fx: float
    """Focal length along x, in pixels."""
    fy: float
    """Focal length along y, in pixels."""
    cx: float
    """Principal point x, in pixels (pixel centres at ``i + 0.5``)."""
    cy: float
    """Principal point y, in pixels."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    k1: float = 0.0
    """First radial distortion coefficient."""
    k2: float = 0.0
    """Second radial distortion coefficient."""
    p1: float = 0.0
    """First tangential distortion coefficient."""
    p2: float = 0.0
    """Second tangential distortion coefficient."""
    k3: float = 0.0
    """Third radial distortion coefficient."""

    def check(self, where: str) -> CameraModel:
        """``self`` if every value is finite, focal lengths are positive and the image size is
        in ``1..MAX_IMAGE_SIDE`` per side.

        Raises:
            DatasetError: naming ``where`` and the offending field.
        """
        for name in ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise DatasetError(f"{where}: intrinsic {name!r} is not finite ({value})")
        if self.fx <= 0 or self.fy <= 0:
            raise DatasetError(
                f"{where}: focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        for name in ("width", "height"):
            side = getattr(self, name)
            if not 1 <= side <= MAX_IMAGE_SIDE:
                raise DatasetError(f"{where}: image {name} is {side} pixels; expected 1 to "
                                   f"{MAX_IMAGE_SIDE}")
        return self

    @property
    def is_pinhole(self) -> bool:
        """True when there is no lens distortion."""
        return self.k1 == self.k2 == self.p1 == self.p2 == self.k3 == 0.0

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def K(self) -> np.ndarray:
        """``[3,3]`` float64 intrinsic matrix (the distortion is not part of it)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, width: int, height: int) -> CameraModel:
        """The same camera for the image resampled to ``width`` x ``height``.

        Distortion acts on normalised coordinates, so only focal lengths and principal point
        scale (by the ratio of the image extents, exact for PIL's resize).
        """
        sx, sy = width / self.width, height / self.height
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy,
                       width=int(width), height=int(height))

    def pinhole(self) -> CameraModel:
        """The same intrinsics without distortion."""
        return replace(self, k1=0.0, k2=0.0, p1=0.0, p2=0.0, k3=0.0)
