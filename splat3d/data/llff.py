"""LLFF scenes: ``poses_bounds.npy`` with ``images/`` (and ``images_N/``) folders.

Format (Mildenhall et al., "Local Light Field Fusion", SIGGRAPH 2019; ``imgs2poses.py`` and
the NeRF ``load_llff.py``): a float array ``[N, 17]``, one row per image in the sorted order
of the image files. The first 15 values are a row-major ``3x5`` matrix: a ``3x4``
camera-to-world transform whose rotation columns are the camera's ``[down, right,
backward]`` axes, and a fifth column ``[height, width, focal]`` of the full-size images.
The last two values are the near/far depth bounds (unused here).

Poses are converted with :func:`splat3d.conventions.llff_to_opencv` and kept in the file's
world frame (NeRF's re-centring and bound-based rescaling are not applied). The principal
point is the image centre. ``downscale=N`` reads ``images_N/`` when it exists (matched to the
poses by sorted order, like LLFF's ``minify`` output, whose names may differ), else resizes
``images/``. Every 8th image is a test view (``llffhold = 8``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from splat3d import conventions
from splat3d.data.assemble import build_dataset
from splat3d.data.camera_model import CameraModel
from splat3d.data.dataset import SceneDataset, holdout_splits
from splat3d.data.errors import DatasetError
from splat3d.data.frames import FrameRecord, frame_names
from splat3d.data.poses import checked_c2w
from splat3d.npyfile import read_npy

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_poses_bounds(path: Path) -> np.ndarray:
    """The ``[N, 17]`` float64 array of a ``poses_bounds.npy`` file, checked before loading.

    Read with :func:`splat3d.npyfile.read_npy` (header, dtype and size checked before any
    allocation; pickles never loaded); the shape must be ``[N, 17]`` and every value (poses,
    hwf, bounds) finite.

    Raises:
        DatasetError: naming the file and what was expected and found.
    """
    try:
        arr = read_npy(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except ValueError as err:
        raise DatasetError(str(err)) from None
    if arr.ndim != 2 or arr.shape[1] != 17 or arr.shape[0] == 0:
        raise DatasetError(f"{path}: expected an [N, 17] array (N >= 1), found shape "
                           f"{arr.shape}")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        row, col = bad[0]
        raise DatasetError(f"{path}: row {row} column {col} is {arr[row, col]}; expected finite "
                           f"values ({len(bad)} non-finite in all)")
    return arr


def read_llff(
    root: Path, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0)
) -> SceneDataset:
    """Read an LLFF scene folder (see the module docstring).

    Raises:
        DatasetError: a malformed ``poses_bounds.npy``, a pose/image count mismatch, no
            image folder, non-finite or non-rigid poses, image sizes that disagree with hwf.
    """
    root = Path(root)
    pb_path = root / "poses_bounds.npy"
    arr = read_poses_bounds(pb_path)
    n = arr.shape[0]
    folder, stored = root / f"images_{downscale}", downscale
    if downscale == 1 or not folder.is_dir():
        folder, stored = root / "images", 1
    if not folder.is_dir():
        raise DatasetError(f"{root}: no image folder 'images'"
                           + (f" or 'images_{downscale}'" if downscale > 1 else ""))
    files = _image_files(folder)
    if len(files) != n:
        raise DatasetError(f"{pb_path}: {n} poses but {len(files)} images in {folder}")
    mats = arr[:, :15].reshape(n, 3, 5)
    names = frame_names(files, folder)
    c2w_llff = []
    for i in range(n):
        where = f"{pb_path} row {i} ({files[i].name})"
        c2w_llff.append(checked_c2w(mats[i, :, :4], where))
    c2w = conventions.llff_to_opencv(torch.from_numpy(np.stack(c2w_llff))).numpy()
    records = []
    for i in range(n):
        where = f"{pb_path} row {i} ({files[i].name})"
        h, w, f = mats[i, :, 4]
        if not (np.isfinite([h, w]).all() and h == round(h) and w == round(w)):
            raise DatasetError(f"{where}: image height/width must be integers, got {h}x{w}")
        cam = CameraModel(f, f, w / 2.0, h / 2.0, int(w), int(h)).check(where)
        records.append(FrameRecord(name=names[i], image_path=files[i], c2w=c2w[i], camera=cam,
                                   image_downscale=stored))
    return build_dataset(records, holdout_splits(n), root, "llff", downscale, background)
