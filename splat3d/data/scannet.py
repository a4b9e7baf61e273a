"""ScanNet posed images as exported by mmdetection3d's ``data/scannet/extract_posed_images.py``.

Layout of one scene folder (``posed_images/sceneXXXX_XX/``)::

    intrinsic.txt    4x4 colour-camera intrinsics (fx, fy, cx, cy in the top-left 3x3)
    00000.jpg        colour frame (1296x968 for ScanNet v2)
    00000.txt        4x4 camera-to-world pose, one matrix row per line, OpenCV convention

ScanNet marks frames its tracker lost with ``-inf`` poses; those frames are skipped with a
:class:`~splat3d.data.errors.DatasetWarning` naming them. Image size comes from the first
frame's JPEG header and all frames must match it. Every 8th frame (in frame-number order)
is a test view. The exported folders carry no depth, so none is loaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from splat3d.data.assemble import build_dataset
from splat3d.data.camera_model import CameraModel
from splat3d.data.dataset import SceneDataset, holdout_splits
from splat3d.data.errors import DatasetError, DatasetWarning
from splat3d.data.frames import FrameRecord
from splat3d.data.images import read_image_size
from splat3d.data.poses import checked_c2w, is_finite_pose


def read_matrix_txt(path: Path, where: str) -> np.ndarray:
    """A whitespace-separated numeric matrix (``inf``/``nan`` allowed) from a text file."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise DatasetError(f"{where}: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{where}: cannot read {path}: {err}") from None
    if len({len(row) for row in rows}) > 1:
        raise DatasetError(f"{where}: {path} rows have different lengths")
    try:
        return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as err:
        raise DatasetError(f"{where}: {path} is not a numeric matrix ({err})") from None


def read_scannet(
    root: Path, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0)
) -> SceneDataset:
    """Read one scene of mmdetection3d's ``posed_images`` export.

    Raises:
        DatasetError: missing/malformed ``intrinsic.txt`` or pose files, a pose file without
            its image, no frame with a finite pose, non-rigid poses, frame size mismatches.
    """
    root = Path(root)
    k_path = root / "intrinsic.txt"
    K = read_matrix_txt(k_path, str(k_path))
    if K.shape not in ((4, 4), (3, 3)) or not np.isfinite(K[:3, :3]).all():
        raise DatasetError(f"{k_path}: expected a finite 4x4 or 3x3 intrinsic matrix, got "
                           f"shape {K.shape}")
    pose_files = sorted((p for p in root.glob("*.txt") if p.stem.isdigit()),
                        key=lambda p: int(p.stem))
    if not pose_files:
        raise DatasetError(f"{root}: no pose files (NNNNN.txt) found")
    posed = {p.stem for p in pose_files}
    for image in sorted(root.glob("*.jpg")):
        if image.stem.isdigit() and image.stem not in posed:
            warnings.warn(f"{root}: frame {image.stem!r} has an image but no pose file; "
                          f"skipped", DatasetWarning, stacklevel=2)
    frames = []
    for pose_path in pose_files:
        where = f"{root} frame {pose_path.stem!r}"
        matrix = read_matrix_txt(pose_path, where)
        if not is_finite_pose(matrix):
            warnings.warn(f"{where}: pose in {pose_path.name} is not finite (tracking lost); "
                          f"frame skipped", DatasetWarning, stacklevel=2)
            continue
        frames.append((pose_path.stem, checked_c2w(matrix, where)))
    if not frames:
        raise DatasetError(f"{root}: no frame has a finite pose")
    first = root / f"{frames[0][0]}.jpg"
    width, height = read_image_size(first, f"{root} frame {frames[0][0]!r}")
    cam = CameraModel(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height).check(str(k_path))
    records = [FrameRecord(name=name, image_path=root / f"{name}.jpg", c2w=c2w, camera=cam)
               for name, c2w in frames]
    return build_dataset(records, holdout_splits(len(records)), root, "scannet", downscale,
                         background)
