"""What every reader produces before images are loaded: one :class:`FrameRecord` per image.

Readers parse their format into records (image path, OpenCV camera-to-world pose, stored
intrinsics); :mod:`splat3d.data.assemble` turns records into a
:class:`~splat3d.data.dataset.SceneDataset`, so image loading, undistortion, downscaling and
size checks are written once for all formats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath, PurePosixPath

import numpy as np
import torch

from splat3d.cameras import Cameras
from splat3d.data.camera_model import CameraModel
from splat3d.data.errors import DatasetError
from splat3d.data.undistort import undistorted_camera


@dataclass(frozen=True)
class FrameRecord:
    """One image of a scene, as described on disk."""

    name: str
    """Unique frame name (see :func:`frame_names`)."""
    image_path: Path
    """The colour image file."""
    c2w: np.ndarray
    """``[4,4]`` float64 camera-to-world transform, OpenCV convention, checked rigid."""
    camera: CameraModel
    """Intrinsics at the resolution of the *full-size* image."""
    image_downscale: int = 1
    """The file at ``image_path`` is already this many times smaller than ``camera``
    (LLFF / COLMAP ``images_N`` folders)."""
    depth_path: Path | None = None
    """Optional single-channel depth image."""
    depth_scale: float = 1.0
    """Multiplier from stored depth values to scene units."""


def dataset_file(root: Path, name: str, where: str, field: str) -> Path:
    """The file a dataset names by ``name`` (relative to ``root``), proven to lie inside ``root``.

    Dataset files are untrusted: a frame's ``file_path`` may be absolute or climb out with
    ``..``, which would make the reader open (and the renderer name outputs after) files
    anywhere on the disk. ``name`` must be relative, and the path, with every symbolic link
    resolved, must stay under ``root`` resolved; so a symlinked dataset folder works, but a
    link inside it that points elsewhere does not. Backslashes count as separators (files
    written on Windows); a missing file is fine here (the image reader reports it).

    Args:
        root: the dataset folder the names are relative to.
        name: the path as stored in the dataset file, e.g. ``"./train/r_0.png"``.
        where: the file and frame, for messages, e.g. ``"scene/transforms.json frame 3"``.
        field: the key or column that held ``name``, e.g. ``"file_path"``.

    Raises:
        DatasetError: an empty or absolute ``name``, one with a NUL character, or one that
            leads outside ``root``.
    """
    if "\0" in name:
        raise DatasetError(f"{where}: {field!r} is {name!r}; a file name cannot contain a NUL "
                           f"character")
    posix = PurePosixPath(name.replace("\\", "/"))
    if not name or posix.is_absolute() or PurePath(name).is_absolute() or (
            posix.parts and posix.parts[0].endswith(":")):
        raise DatasetError(f"{where}: {field!r} is {name!r}; expected a path relative to the "
                           f"dataset folder {root}")
    path = root / posix
    try:
        base, resolved = root.resolve(), path.resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a symbolic-link loop (Python < 3.13)
        raise DatasetError(f"{where}: {field!r} is {name!r}, which cannot be resolved "
                           f"({err})") from None
    if not resolved.is_relative_to(base):
        via = "" if ".." in posix.parts else " through a symbolic link"
        raise DatasetError(f"{where}: {field!r} is {name!r}, which leads{via} to {resolved}, "
                           f"outside the dataset folder {base}")
    return path


def frame_names(paths: Sequence[PurePath], root: Path) -> list[str]:
    """File stems when they are unique, else paths relative to ``root`` without suffix.

    E.g. Blender's ``train/r_0.png`` and ``test/r_0.png`` become ``train/r_0`` and
    ``test/r_0``, while a single folder of ``frame_00001.jpg`` files keeps bare stems.
    """
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    names = []
    for p in paths:
        try:
            rel = PurePath(p).relative_to(root)
        except ValueError:
            rel = PurePath(p)
        names.append(rel.with_suffix("").as_posix())
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError(f"{root}: several frames share the image path(s) {dup[:5]}")
    return names


def common_size(records: Sequence[FrameRecord], source: Path) -> tuple[int, int]:
    """The full-size image size shared by all records.

    Raises:
        DatasetError: naming two frames of different sizes; a dataset has one image size.
    """
    first = records[0]
    for rec in records[1:]:
        if rec.camera.size != first.camera.size:
            raise DatasetError(
                f"{source}: frames differ in image size: {first.name!r} is "
                f"{first.camera.width}x{first.camera.height} but {rec.name!r} is "
                f"{rec.camera.width}x{rec.camera.height}; a dataset needs one image size")
    return first.camera.size


def records_to_cameras(records: Sequence[FrameRecord], source: Path) -> Cameras:
    """Cameras of the records at full size, after undistortion (without loading images).

    These equal the cameras of the dataset built from the same records at ``downscale=1``.
    """
    if not records:
        raise DatasetError(f"{source}: no frames")
    width, height = common_size(records, source)
    pinholes = [undistorted_camera(r.camera, f"{source} frame {r.name!r}") for r in records]
    K = torch.tensor(np.stack([p.K() for p in pinholes]), dtype=torch.float32)
    c2w = torch.tensor(np.stack([r.c2w for r in records]), dtype=torch.float64)
    return Cameras.from_opencv_c2w(c2w, K, width, height)


def prefer_prescaled(
    records: Sequence[FrameRecord], candidates: Sequence[Path], downscale: int
) -> list[FrameRecord]:
    """Use pre-downscaled copies (``images_N/`` folders) when every one of them exists.

    ``candidates[i]`` is where record ``i``'s image would be stored ``downscale`` times
    smaller. If any is missing, the full-size images are kept (and resized on load).
    """
    records = list(records)
    if downscale == 1 or not all(Path(c).is_file() for c in candidates):
        return records
    return [replace(r, image_path=Path(c), image_downscale=downscale)
            for r, c in zip(records, candidates, strict=True)]
