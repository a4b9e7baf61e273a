"""Validation of camera-to-world matrices read from disk.

Readers hand every pose to :func:`checked_c2w` before it reaches
:class:`~splat3d.cameras.Cameras`, whose world-to-camera inverse assumes a rigid transform.
A pose that is not finite, has a singular or reflecting rotation block, or whose rotation is
not orthonormal (a scaled or sheared matrix) is rejected with the file and frame named.
"""

from __future__ import annotations

import numpy as np

from splat3d.data.errors import DatasetError

ORTHONORMAL_TOL = 1e-3
"""Largest ``|R^T R - I|`` entry accepted; poses stored as float32 text are well inside it."""

MAX_CAMERA_DISTANCE = 1e7
"""Largest distance of a camera centre from the origin along any axis, in scene units.
Beyond it the float32 renderer's spacing between representable positions (2^-23 of the
magnitude) exceeds one unit and squared distances head for overflow, so the image would be
silently wrong; georeferenced captures should be re-centred first."""


def is_finite_pose(matrix: object) -> bool:
    """Whether ``matrix`` converts to a numeric array with only finite entries."""
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.isfinite(arr).all())


def checked_c2w(matrix: object, where: str) -> np.ndarray:
    """``matrix`` as a float64 ``[4,4]`` rigid camera-to-world transform, or a clear error.

    Args:
        matrix: a ``[4,4]`` or ``[3,4]`` nested list / array.
        where: names the file and frame in error messages, e.g. ``"transforms.json frame 3"``.

    Raises:
        DatasetError: wrong shape, non-numeric or non-finite entries, a camera farther than
            :data:`MAX_CAMERA_DISTANCE` from the origin, a singular or
            reflecting rotation block, a rotation that is not orthonormal, or a bottom row
            other than ``[0, 0, 0, 1]``.
    """
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:  # Overflow: an int beyond float64
        raise DatasetError(f"{where}: pose is not a numeric matrix ({err})") from None
    if arr.shape == (3, 4):
        arr = np.concatenate([arr, [[0.0, 0.0, 0.0, 1.0]]])
    if arr.shape != (4, 4):
        raise DatasetError(f"{where}: pose must be a 4x4 or 3x4 matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DatasetError(f"{where}: pose has non-finite entries: {arr.tolist()}")
    # the largest translation component: for c2w the camera centre, for a rigid w2c within
    # sqrt(3) of it; a norm would itself overflow for the values this guards against
    far = float(np.abs(arr[:3, 3]).max())
    if not far <= MAX_CAMERA_DISTANCE:
        raise DatasetError(f"{where}: the camera is {far:.3g} scene units from the origin "
                           f"along one axis; expected at most {MAX_CAMERA_DISTANCE:.0e} "
                           f"(re-centre or rescale the scene)")
    if not np.allclose(arr[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise DatasetError(f"{where}: pose bottom row must be [0, 0, 0, 1], got {arr[3].tolist()}")
    rot = arr[:3, :3]
    with np.errstate(over="ignore", invalid="ignore"):  # huge entries fail the checks below
        det = float(np.linalg.det(rot))
        err = float(np.abs(rot.T @ rot - np.eye(3)).max())
    if abs(det) < 1e-6:
        raise DatasetError(f"{where}: pose rotation block is singular (det = {det:.3g})")
    if det < 0:
        raise DatasetError(f"{where}: pose rotation block is a reflection (det = {det:.3g})")
    if not err <= ORTHONORMAL_TOL:  # also catches NaN from overflowing entries
        raise DatasetError(
            f"{where}: pose is not rigid (rotation block not orthonormal, max |R^T R - I| = "
            f"{err:.3g} > {ORTHONORMAL_TOL}); scaled or sheared camera matrices are unsupported")
    return arr
