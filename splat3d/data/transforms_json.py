"""Parsing nerfstudio / Blender ``transforms.json`` files into frame records and cameras.

Format (nerfstudio "data conventions" docs; Mildenhall et al.'s NeRF-synthetic release):
a JSON object with a list of frames (``"frames"`` by default), each with

* ``file_path``: the image, relative to the JSON file's folder. Blender files omit the
  ``.png`` suffix (``"./train/r_0"``), which is then appended.
* ``transform_matrix``: a 4x4 (or 3x4) camera-to-world matrix in the **OpenGL**
  convention (x right, y up, z backward); converted to OpenCV with
  :func:`splat3d.conventions.opengl_to_opencv`.

Intrinsics are top-level keys, any of which a frame may override (nerfstudio allows
per-frame cameras):

* ``fl_x`` [``fl_y``], ``cx`` ``cy``, ``w`` ``h`` in pixels; ``cx``/``cy`` default to the image
  centre and ``fl_y`` to ``fl_x``; or
* ``camera_angle_x`` [``camera_angle_y``]: the horizontal (vertical) field of view in radians,
  as in Blender data, with the principal point at the image centre.
* ``camera_model``: ``PINHOLE``/``SIMPLE_PINHOLE`` or ``OPENCV`` with ``k1 k2 p1 p2`` [``k3``].
  Without it, a camera with non-zero distortion keys is ``OPENCV``. Other models
  (``OPENCV_FISHEYE``, ``EQUIRECTANGULAR``, ...) are refused.

When ``w``/``h`` are absent (Blender), the image size comes from the ``width``/``height``
arguments or, failing those, from each frame image's header (no pixels are decoded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from splat3d import conventions
from splat3d.cameras import Cameras
from splat3d.data.camera_model import CameraModel
from splat3d.data.errors import DatasetError
from splat3d.data.frames import FrameRecord, dataset_file, frame_names, records_to_cameras
from splat3d.data.images import read_image_size
from splat3d.data.poses import checked_c2w
from splat3d.fileio import read_json as read_json_value

SUPPORTED_CAMERA_MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "OPENCV")
_DISTORTION_KEYS = ("k1", "k2", "p1", "p2", "k3")


@dataclass(frozen=True)
class TransformsFile:
    """A parsed transforms JSON."""

    path: Path
    """The JSON file."""
    meta: dict[str, Any]
    """The whole JSON object (for format-specific keys such as ``ply_file_path``)."""
    records: list[FrameRecord]
    """One record per frame, in file order."""
    file_paths: list[str]
    """Each frame's ``file_path`` normalised to a POSIX path relative to the JSON folder."""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or a :class:`DatasetError` naming the file (and the line
    and column of a syntax error; see :func:`splat3d.fileio.read_json`)."""
    try:
        data = read_json_value(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, ValueError) as err:
        message = str(err) if str(path) in str(err) else f"{path}: cannot read file: {err}"
        raise DatasetError(message) from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object at top level, "
                           f"got {type(data).__name__}")
    return data


def json_number(value: Any, key: str, where: str) -> float:
    """``value`` (the JSON value of ``key``) as a finite float, or a :class:`DatasetError`
    naming ``where``; JSON allows NaN, Infinity and integers beyond float range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{where}: {key!r} must be a number, got {value!r:.80}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise DatasetError(f"{where}: {key!r} must be a finite number, got {value!r:.80}")
    return number


def _field_of_view(value: Any, key: str, where: str) -> float:
    """A full field of view in radians, which a pinhole camera has in (0, pi)."""
    angle = json_number(value, key, where)
    if not 0.0 < angle < math.pi:
        raise DatasetError(f"{where}: {key!r} is {angle}; expected a field of view in radians "
                           f"in (0, pi) (a pinhole camera sees less than 180 degrees)")
    return angle


def normalised_file_path(file_path: str) -> str:
    """``file_path`` as a clean POSIX relative path (``./train/r_0`` -> ``train/r_0``)."""
    return PurePosixPath(file_path.replace("\\", "/")).as_posix().removeprefix("./")


def _image_path(root: Path, file_path: str, where: str) -> Path:
    name = normalised_file_path(file_path)
    if not PurePosixPath(name).suffix and not (root / name).exists():
        name += ".png"  # Blender stores "./train/r_0" for train/r_0.png
    # checked after the suffix is settled: the .png file itself may be a link out
    return dataset_file(root, name, where, "file_path")


def _frame_camera(
    get: Any, image_path: Path, width: int | None, height: int | None, where: str
) -> CameraModel:
    w, h = get("w"), get("h")
    if w is None or h is None:
        if width is not None and height is not None:
            w, h = width, height
        else:
            w, h = read_image_size(image_path, where)
    else:
        w, h = json_number(w, "w", where), json_number(h, "h", where)
        if w != int(w) or h != int(h):
            raise DatasetError(f"{where}: image size 'w'/'h' must be integers, got {w}x{h}")
        if width is not None and height is not None and (int(w), int(h)) != (width, height):
            raise DatasetError(f"{where}: the file says the images are {int(w)}x{int(h)} but "
                               f"width/height arguments say {width}x{height}")
    w, h = int(w), int(h)
    if get("fl_x") is not None:
        fx = json_number(get("fl_x"), "fl_x", where)
        fy = json_number(get("fl_y"), "fl_y", where) if get("fl_y") is not None else fx
    elif get("camera_angle_x") is not None:
        fx = conventions.fov_to_focal(
            _field_of_view(get("camera_angle_x"), "camera_angle_x", where), w)
        angle_y = get("camera_angle_y")
        fy = fx if angle_y is None else conventions.fov_to_focal(
            _field_of_view(angle_y, "camera_angle_y", where), h)
    else:
        raise DatasetError(f"{where}: missing key 'fl_x' (or 'camera_angle_x'): no focal length")
    cx = json_number(get("cx"), "cx", where) if get("cx") is not None else w / 2.0
    cy = json_number(get("cy"), "cy", where) if get("cy") is not None else h / 2.0
    dist = {k: json_number(get(k), k, where) if get(k) is not None else 0.0
            for k in _DISTORTION_KEYS}
    k4 = json_number(get("k4"), "k4", where) if get("k4") is not None else 0.0
    model = get("camera_model")
    if model is None:
        model = "OPENCV" if any(dist.values()) else "PINHOLE"
    if model not in SUPPORTED_CAMERA_MODELS:
        raise DatasetError(f"{where}: unsupported camera_model {model!r}; "
                           f"supported: {', '.join(SUPPORTED_CAMERA_MODELS)}")
    if k4 != 0.0:
        raise DatasetError(f"{where}: 'k4' = {k4} is a fisheye coefficient, which camera_model "
                           f"{model!r} does not have (OPENCV_FISHEYE is unsupported)")
    if model != "OPENCV" and any(dist.values()):
        raise DatasetError(f"{where}: camera_model {model!r} has no distortion but the file "
                           f"gives {dist}")
    return CameraModel(fx=fx, fy=fy, cx=cx, cy=cy, width=w, height=h, **dist).check(where)


def parse_transforms(
    path: Path, frames_key: str = "frames", width: int | None = None,
    height: int | None = None,
) -> TransformsFile:
    """Frame records of a transforms JSON (see the module docstring for the format).

    Args:
        path: the JSON file.
        frames_key: the key holding the frame list.
        width, height: image size to use when the file has no ``w``/``h`` (instead of
            reading image headers); must agree with ``w``/``h`` when the file has them.

    Raises:
        DatasetError: naming the file and frame for a missing key, a malformed or
            non-finite value, a singular/non-rigid pose, an unsupported camera model or an
            unreadable image header.
    """
    path = Path(path)
    meta = read_json(path)
    frames = meta.get(frames_key)
    if frames is None:
        raise DatasetError(f"{path}: missing key {frames_key!r} (the list of frames)")
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{path}: {frames_key!r} must be a non-empty list of frames")
    root = path.parent
    cams, c2ws, image_paths, file_paths = [], [], [], []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise DatasetError(f"{path} frame {i}: expected an object, got {frame!r:.80}")
        file_path = frame.get("file_path")
        if file_path is None:
            raise DatasetError(f"{path} frame {i}: missing key 'file_path'")
        if not isinstance(file_path, str) or not file_path:
            raise DatasetError(f"{path} frame {i}: 'file_path' must be a non-empty string "
                               f"(the image path), got {file_path!r:.80}")
        where = f"{path} frame {i} ({file_path!r})"
        if "transform_matrix" not in frame:
            raise DatasetError(f"{where}: missing key 'transform_matrix'")
        c2ws.append(checked_c2w(frame["transform_matrix"], where))
        image_path = _image_path(root, file_path, where)
        image_paths.append(image_path)
        file_paths.append(normalised_file_path(file_path))

        def get(key: str, frame: dict = frame) -> Any:
            return frame.get(key, meta.get(key))

        cams.append(_frame_camera(get, image_path, width, height, where))
    c2w_cv = conventions.opengl_to_opencv(torch.from_numpy(np.stack(c2ws))).numpy()
    names = frame_names(image_paths, root)
    records = [FrameRecord(name=n, image_path=p, c2w=m, camera=c)
               for n, p, m, c in zip(names, image_paths, c2w_cv, cams, strict=True)]
    return TransformsFile(path=path, meta=meta, records=records, file_paths=file_paths)


def read_transforms_cameras(
    path: Path, frames_key: str = "frames", width: int | None = None,
    height: int | None = None,
) -> tuple[Cameras, list[str]]:
    """Cameras and frame names of a nerfstudio / Blender transforms JSON, without images.

    Frame names are the image file stems (relative paths without suffix where stems repeat).
    Cameras with ``OPENCV`` distortion are returned as the undistorted pinhole cameras that
    :func:`splat3d.data.load_dataset` produces for the same file.

    Example:
        >>> cams, names = read_transforms_cameras(Path("lego/transforms_train.json"))
        ... # doctest: +SKIP
        >>> cams.K.shape, names[0]  # doctest: +SKIP
        (torch.Size([100, 3, 3]), 'r_0')

    Raises:
        DatasetError: see :func:`parse_transforms`; also if frames differ in image size.
    """
    parsed = parse_transforms(path, frames_key, width, height)
    return records_to_cameras(parsed.records, parsed.path), [r.name for r in parsed.records]

