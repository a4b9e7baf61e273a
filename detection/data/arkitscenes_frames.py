"""ARKitScenes ``lowres_wide`` frames with their ``.pincam`` intrinsics and ``.traj`` poses.

ARKitScenes (Baruch et al., NeurIPS 2021 Datasets and Benchmarks; ``apple/ARKitScenes``,
``DATA.md`` and ``threedod/README.md``) stores the frames of 3DOD video ``<id>`` as::

    <id>/<id>_frames/
        lowres_wide/<id>_<t>.png               colour, 256x192 (t: seconds, 3 decimals)
        lowres_depth/<id>_<t>.png              uint16 depth in millimetres (same size)
        lowres_wide_intrinsics/<id>_<t>.pincam one line: width height fx fy cx cy
        lowres_wide.traj                       one line per pose: t ax ay az tx ty tz

A ``.traj`` line is a timestamp, a rotation as an axis-angle vector (radians) and a
translation (metres). The official loader (``threedod/benchmark_scripts/utils/
tenFpsDataLoader.py``, ``TrajStringToMatrix``) names them ``r_w_to_p`` / ``t_w_to_p``: the
line is the **world-to-camera** transform ``x_cam = R(a) x_world + t``, and it inverts it to
get the camera-to-world pose it unprojects depth with. Its unprojection is the pinhole
``K^-1 [u d, v d, d]`` with image x right and y down, i.e. the camera frame is OpenCV's
(x right, y down, z forward) and the world is the frame the 3DOD boxes are annotated in.
We therefore take ``world_to_cam = [R(a) | t]`` unchanged.

**Timestamp matching**, as in the official loader: trajectory timestamps are rounded to
three decimals (``f"{round(t, 3):.3f}"``); a frame whose timestamp string equals such a key
takes that pose, otherwise the pose whose timestamp is within ``0.005`` s (the official code
takes any match within that tolerance; we take the nearest). Frames with no pose within the
tolerance are skipped with a warning. A frame's ``.pincam`` is looked up under its own
timestamp, then ``t - 0.001`` and ``t + 0.001`` (again as the official loader does).

Intrinsics are used as stored; whether ARKit's principal point counts pixel centres from 0
(the official unprojection's convention) or 0.5 (ours) is not documented, a half-pixel
question left as is.
"""

from __future__ import annotations

import bisect
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from jaxtyping import Float

from splat3d.data.assemble import build_dataset
from splat3d.data.camera_model import CameraModel
from splat3d.data.dataset import SceneDataset, holdout_splits
from splat3d.data.errors import DatasetError, DatasetWarning
from splat3d.data.frames import FrameRecord
from splat3d.data.poses import checked_c2w

MATCH_TOLERANCE = 0.005
"""Largest frame/pose timestamp difference (seconds) the official loader accepts."""
PINCAM_OFFSET = 0.001
"""The official loader also looks for a frame's ``.pincam`` this many seconds either side."""
DEPTH_SCALE = 0.001
"""``lowres_depth`` PNGs store millimetres."""
FRAMES_SUFFIX = "_frames"
_TIMESTAMP = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class TrajPose:
    """One line of a ``.traj`` file."""

    timestamp: float
    """Seconds."""
    world_to_cam: np.ndarray
    """``[4,4]`` float64 world-to-camera transform, OpenCV camera axes."""
    line: int
    """1-based line number in the file (for messages)."""

    @property
    def key(self) -> str:
        """The official dictionary key: the timestamp rounded to three decimals."""
        return f"{round(self.timestamp, 3):.3f}"


def axis_angle_to_matrix(rotvec: Float[np.ndarray, " 3"]) -> Float[np.ndarray, "3 3"]:
    """Rotation matrix of an axis-angle vector (Rodrigues' formula, as OpenCV's ``Rodrigues``).

    ``R = I + sin(a) K + (1 - cos(a)) K^2`` with ``a = |rotvec|`` and ``K`` the cross-product
    matrix of the unit axis; the rotation is counter-clockwise about the axis.
    """
    v = np.asarray(rotvec, dtype=np.float64).reshape(3)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)


def read_pincam(path: str | Path) -> CameraModel:
    """Intrinsics of one ``.pincam`` file (``width height fx fy cx cy`` on one line).

    Raises:
        DatasetError: missing file, not six numbers, non-integer size, bad values.
    """
    path = Path(path)
    try:
        tokens = path.read_text().split()
    except FileNotFoundError:
        raise DatasetError(f"{path}: .pincam file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read .pincam file: {err}") from None
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        values = []
    if len(values) != 6:
        raise DatasetError(f"{path}: expected six numbers 'width height fx fy cx cy', "
                           f"found {' '.join(tokens)!r}")
    w, h, fx, fy, cx, cy = values
    if not (w.is_integer() and h.is_integer()):
        raise DatasetError(f"{path}: width and height must be integers, got {w} x {h}")
    return CameraModel(fx, fy, cx, cy, int(w), int(h)).check(str(path))


def read_traj(path: str | Path) -> list[TrajPose]:
    """Poses of a ``.traj`` file in file order.

    Raises:
        DatasetError: missing file, a line without seven numbers or with non-finite values
            (naming the line), or no pose at all.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetError(f"{path}: trajectory file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read trajectory: {err}") from None
    poses = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            values = []
        if len(values) != 7 or not all(math.isfinite(v) for v in values):
            raise DatasetError(f"{path} line {number}: expected seven finite numbers "
                               f"'timestamp ax ay az tx ty tz', found {line.strip()!r}")
        w2c = np.eye(4)
        w2c[:3, :3] = axis_angle_to_matrix(np.array(values[1:4]))
        w2c[:3, 3] = values[4:7]
        poses.append(TrajPose(values[0], w2c, number))
    if not poses:
        raise DatasetError(f"{path}: no poses")
    return poses


def match_timestamps(
    frames: Sequence[str], poses: Sequence[TrajPose], tolerance: float = MATCH_TOLERANCE
) -> list[int | None]:
    """For each frame timestamp string, the index of its pose in ``poses`` (None: no match).

    An exact match of the frame string with a pose's three-decimal :attr:`TrajPose.key` wins;
    otherwise the pose with the nearest timestamp, if strictly closer than ``tolerance``
    seconds (ties: the earlier pose).
    """
    by_key: dict[str, int] = {}
    for i, pose in enumerate(poses):
        by_key.setdefault(pose.key, i)
    order = sorted(range(len(poses)), key=lambda i: poses[i].timestamp)
    times = [poses[i].timestamp for i in order]
    result: list[int | None] = []
    for name in frames:
        if name in by_key:
            result.append(by_key[name])
            continue
        t = float(name)
        j = bisect.bisect_left(times, t)
        best = min((c for c in (j - 1, j) if 0 <= c < len(times)),
                   key=lambda c: (abs(times[c] - t), c), default=None)
        ok = best is not None and abs(times[best] - t) < tolerance
        result.append(order[best] if ok else None)
    return result


def frames_folder(path: str | Path) -> Path:
    """The ``<id>_frames`` folder for either it or the video folder that contains it."""
    path = Path(path)
    if (path / "lowres_wide").is_dir():
        return path
    candidate = path / f"{path.name}{FRAMES_SUFFIX}"
    if (candidate / "lowres_wide").is_dir():
        return candidate
    raise DatasetError(f"{path}: no lowres_wide/ folder here or in {candidate.name}/; expected "
                       f"an ARKitScenes <video_id> or <video_id>_frames folder")


def _video_id(folder: Path) -> str:
    name = folder.name
    return name[: -len(FRAMES_SUFFIX)] if name.endswith(FRAMES_SUFFIX) else name


def _find_pincam(folder: Path, video_id: str, stamp: str) -> Path | None:
    t = float(stamp)
    for name in (stamp, f"{t - PINCAM_OFFSET:.3f}", f"{t + PINCAM_OFFSET:.3f}"):
        path = folder / f"{video_id}_{name}.pincam"
        if path.is_file():
            return path
    return None


def read_arkitscenes_frames(
    path: str | Path, step: int = 1, downscale: int = 1, with_depth: bool | None = None,
    tolerance: float = MATCH_TOLERANCE, background: Sequence[float] = (1.0, 1.0, 1.0),
) -> SceneDataset:
    """Every ``step``-th ``lowres_wide`` frame (by timestamp) that has a pose, as a dataset.

    Args:
        path: the ``<video_id>`` folder or its ``<video_id>_frames`` folder.
        step: keep frames ``0, step, 2 step, ...`` of the timestamp-sorted colour frames.
        downscale: integer image downscale factor.
        with_depth: load ``lowres_depth`` (metres); None: when every kept frame has one.
        tolerance: largest timestamp difference for a pose match, seconds.
        background: recorded in the dataset (the PNGs have no alpha).

    Frames without a pose within ``tolerance`` or without a ``.pincam`` are skipped with one
    :class:`~splat3d.data.errors.DatasetWarning` each kind. Every 8th kept frame is a test
    view.

    Raises:
        DatasetError: missing folders or trajectory, malformed files, a colour file name that
            is not ``<video_id>_<seconds>.png``, a missing depth frame with ``with_depth``, or
            no usable frame.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise DatasetError(f"{path}: frame step must be a positive integer, got {step!r}")
    folder = frames_folder(path)
    video_id = _video_id(folder)
    colour = sorted((folder / "lowres_wide").glob("*.png"))
    stamps = []
    for image in colour:
        prefix, _, stamp = image.stem.rpartition("_")
        # digits only: float() would also take "nan", "inf" and "1_0", which match no pose
        if prefix != video_id or not _TIMESTAMP.fullmatch(stamp):
            raise DatasetError(f"{image}: expected a file name {video_id}_<seconds>.png with "
                               f"<seconds> like 1234.567, found {image.name!r}")
        stamps.append(stamp)
    if not colour:
        raise DatasetError(f"{folder / 'lowres_wide'}: no .png frames")
    order = sorted(range(len(colour)), key=lambda i: float(stamps[i]))[::step]
    traj_path = folder / "lowres_wide.traj"
    poses = read_traj(traj_path)
    matches = match_timestamps([stamps[i] for i in order], poses, tolerance)
    depth_dir = folder / "lowres_depth"
    records, no_pose, no_pincam = [], [], []
    for i, match in zip(order, matches, strict=True):
        if match is None:
            no_pose.append(stamps[i])
            continue
        pincam = _find_pincam(folder / "lowres_wide_intrinsics", video_id, stamps[i])
        if pincam is None:
            no_pincam.append(stamps[i])
            continue
        pose = poses[match]
        where = f"{traj_path} line {pose.line}"
        c2w = checked_c2w(np.linalg.inv(pose.world_to_cam), where)
        records.append(FrameRecord(name=stamps[i], image_path=colour[i], c2w=c2w,
                                   camera=read_pincam(pincam), depth_path=depth_dir /
                                   colour[i].name, depth_scale=DEPTH_SCALE))
    for missing, what in ((no_pose, f"no pose within {tolerance} s in {traj_path.name}"),
                          (no_pincam, "no .pincam intrinsics")):
        if missing:
            warnings.warn(f"{folder}: {len(missing)} frame(s) skipped, {what}: first "
                          f"{missing[:5]}", DatasetWarning, stacklevel=2)
    if not records:
        raise DatasetError(f"{folder}: no frame has both a pose and intrinsics")
    missing_depth = [r.depth_path for r in records if not r.depth_path.is_file()]
    if with_depth and missing_depth:
        raise DatasetError(f"{missing_depth[0]}: depth frame missing ({len(missing_depth)} in "
                           f"all; pass with_depth=False to read colour only)")
    if with_depth is False or missing_depth:
        records = [replace(r, depth_path=None) for r in records]
    return build_dataset(records, holdout_splits(len(records)), folder, "arkitscenes",
                         downscale, background)
