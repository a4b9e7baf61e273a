"""Reader of COLMAP sparse models (``cameras``, ``images``, ``points3D`` as ``.bin`` or ``.txt``).

Format: COLMAP documentation "Output Format" (``doc/format.rst``) and the binary layout of
``scripts/python/read_write_model.py``, all little-endian:

* ``cameras.bin``: ``uint64 n``; per camera ``int32 camera_id, int32 model_id, uint64 width,
  uint64 height, float64 params[k]`` with ``k`` fixed by the model (:data:`CAMERA_MODELS`).
* ``images.bin``: ``uint64 n``; per image ``int32 image_id, float64 qw qx qy qz tx ty tz,
  int32 camera_id, name (NUL-terminated), uint64 n2d, n2d x (float64 x, float64 y,
  int64 point3D_id)``. ``(q, t)`` is the world-to-camera transform, OpenCV convention.
* ``points3D.bin``: ``uint64 n``; per point ``uint64 id, float64 x y z, uint8 r g b,
  float64 error, uint64 track_length, track_length x (int32 image_id, int32 point2D_idx)``.
* ``*.txt``: one record per line, ``#`` comments; ``images.txt`` has two lines per image
  (the second lists the 2D points and may be empty).

Written here instead of depending on ``pycolmap``: that wheel is a ~38 MB download and
~200 MB installed (it bundles COLMAP itself), for what is a few hundred lines of parsing.
2D keypoints and point tracks are skipped; only what a reconstruction needs is kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from splat3d.data.errors import DatasetError

CAMERA_MODELS: dict[int, tuple[str, int]] = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
    4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
"""COLMAP model id -> (name, number of parameters)."""
_PARAMS_BY_NAME = dict(CAMERA_MODELS.values())


@dataclass(frozen=True)
class ColmapCamera:
    camera_id: int
    model: str
    """COLMAP model name, e.g. ``PINHOLE``."""
    width: int
    height: int
    params: tuple[float, ...]
    """Model parameters in COLMAP's order (e.g. ``fx fy cx cy`` for ``PINHOLE``)."""


@dataclass(frozen=True)
class ColmapImage:
    image_id: int
    qvec: tuple[float, float, float, float]
    """World-to-camera rotation as a ``(w, x, y, z)`` quaternion."""
    tvec: tuple[float, float, float]
    """World-to-camera translation."""
    camera_id: int
    name: str
    """Image path relative to the images folder."""


@dataclass(frozen=True)
class ColmapModel:
    """A sparse reconstruction, keyed by COLMAP's (non-contiguous) ids."""

    cameras: dict[int, ColmapCamera]
    images: dict[int, ColmapImage]
    points_xyz: np.ndarray
    """``[P,3]`` float64 point positions."""
    points_rgb: np.ndarray
    """``[P,3]`` uint8 point colours."""
    images_path: Path
    """The ``images.bin`` / ``images.txt`` file the images came from (named in messages)."""
    cameras_path: Path
    """The ``cameras.bin`` / ``cameras.txt`` file the cameras came from (named in messages)."""


class _Reader:
    """Sequential little-endian reads from a bytes buffer with errors naming the file."""

    def __init__(self, path: Path) -> None:
        self.path, self.buf, self.pos = path, path.read_bytes(), 0

    def read(self, fmt: str, what: str) -> tuple:
        try:
            values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        except struct.error:
            raise DatasetError(f"{self.path}: file ends inside {what} (truncated or not a "
                               f"COLMAP binary file)") from None
        self.pos += struct.calcsize("<" + fmt)
        return values

    def count(self, what: str, min_record_bytes: int) -> int:
        """Read a ``uint64`` record count, checked against the bytes left: each record takes
        at least ``min_record_bytes``, so a corrupt count fails here, not in an allocation."""
        (n,) = self.read("Q", f"the {what} count")
        left = len(self.buf) - self.pos
        if n * min_record_bytes > left:
            raise DatasetError(f"{self.path}: declares {n} {what}s of at least "
                               f"{min_record_bytes} bytes each, but only {left} bytes follow "
                               f"(truncated, or not a COLMAP {what}s file)")
        return n

    def skip(self, nbytes: int, what: str) -> None:
        if self.pos + nbytes > len(self.buf):
            raise DatasetError(f"{self.path}: file ends inside {what} (truncated)")
        self.pos += nbytes

    def string(self, what: str) -> str:
        end = self.buf.find(b"\0", self.pos)
        if end < 0:
            raise DatasetError(f"{self.path}: unterminated name in {what}")
        raw, self.pos = self.buf[self.pos:end], end + 1
        return raw.decode("utf-8", errors="replace")

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise DatasetError(f"{self.path}: {len(self.buf) - self.pos} unexpected trailing "
                               f"bytes")


def _camera_model_name(model: str | int, path: Path, what: str) -> str:
    if isinstance(model, int):
        if model not in CAMERA_MODELS:
            raise DatasetError(f"{path}: {what} has unknown camera model id {model}")
        return CAMERA_MODELS[model][0]
    if model not in _PARAMS_BY_NAME:
        raise DatasetError(f"{path}: {what} has unknown camera model {model!r}")
    return model


def read_cameras_binary(path: Path) -> dict[int, ColmapCamera]:
    r = _Reader(path)
    cameras = {}
    n = r.count("camera", struct.calcsize("<iiQQ") + 3 * 8)  # SIMPLE_PINHOLE: 3 params
    for i in range(n):
        cam_id, model_id, width, height = r.read("iiQQ", f"camera {i}")
        model = _camera_model_name(model_id, path, f"camera {cam_id}")
        params = r.read(f"{_PARAMS_BY_NAME[model]}d", f"camera {cam_id} parameters")
        cameras[cam_id] = ColmapCamera(cam_id, model, width, height, params)
    r.done()
    return cameras


def read_images_binary(path: Path) -> dict[int, ColmapImage]:
    r = _Reader(path)
    images = {}
    n = r.count("image", struct.calcsize("<i7di") + 1 + 8)  # empty name, no 2D points
    for i in range(n):
        image_id, *pose, cam_id = r.read("i7di", f"image {i}")
        name = r.string(f"image {image_id}")
        (n2d,) = r.read("Q", f"image {image_id} point count")
        r.skip(24 * n2d, f"image {image_id} 2D points")
        images[image_id] = ColmapImage(image_id, tuple(pose[:4]), tuple(pose[4:]), cam_id, name)
    r.done()
    return images


def read_points3d_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    r = _Reader(path)
    n = r.count("point", struct.calcsize("<Q3d3BdQ"))  # an empty track
    xyz = np.empty((n, 3), dtype=np.float64)
    rgb = np.empty((n, 3), dtype=np.uint8)
    for i in range(n):
        _, x, y, z, cr, cg, cb, _, track = r.read("Q3d3BdQ", f"point {i}")
        r.skip(8 * track, f"point {i} track")
        xyz[i], rgb[i] = (x, y, z), (cr, cg, cb)
    r.done()
    return xyz, rgb


def _text_records(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of every non-comment line, blank lines included."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read file: {err}") from None
    return [(i + 1, line.strip()) for i, line in enumerate(lines)
            if not line.lstrip().startswith("#")]


def _parse(fields: list[str], types: tuple, path: Path, lineno: int) -> list:
    if len(fields) < len(types):
        raise DatasetError(f"{path}:{lineno}: expected at least {len(types)} fields, "
                           f"got {len(fields)}")
    try:
        return [t(f) for t, f in zip(types, fields, strict=False)]
    except ValueError as err:
        raise DatasetError(f"{path}:{lineno}: malformed value ({err})") from None


def read_cameras_text(path: Path) -> dict[int, ColmapCamera]:
    cameras = {}
    for lineno, line in _text_records(path):
        if not line:
            continue
        fields = line.split()
        cam_id, model, width, height = _parse(fields, (int, str, int, int), path, lineno)
        model = _camera_model_name(model, path, f"camera {cam_id}")
        k = _PARAMS_BY_NAME[model]
        if len(fields) != 4 + k:
            raise DatasetError(f"{path}:{lineno}: camera {cam_id} ({model}) needs {k} "
                               f"parameters, got {len(fields) - 4}")
        params = _parse(fields[4:], (float,) * k, path, lineno)
        cameras[cam_id] = ColmapCamera(cam_id, model, width, height, tuple(params))
    return cameras


def read_images_text(path: Path) -> dict[int, ColmapImage]:
    records = _text_records(path)
    images = {}
    i = 0
    while i < len(records):
        lineno, line = records[i]
        if not line:  # blank lines between images; the 2D-point line is consumed below
            i += 1
            continue
        fields = line.split(maxsplit=9)
        values = _parse(fields, (int,) + (float,) * 7 + (int, str), path, lineno)
        image_id, pose, cam_id, name = values[0], values[1:8], values[8], values[9]
        images[image_id] = ColmapImage(image_id, tuple(pose[:4]), tuple(pose[4:]), cam_id, name)
        i += 2
    return images


def read_points3d_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    for lineno, line in _text_records(path):
        if not line:
            continue
        values = _parse(line.split(), (int, float, float, float, int, int, int), path, lineno)
        xyz.append(values[1:4])
        rgb.append(values[4:7])
    if any(not 0 <= c <= 255 for c in np.ravel(rgb)):
        raise DatasetError(f"{path}: point colours must be in 0..255")
    return (np.asarray(xyz, dtype=np.float64).reshape(-1, 3),
            np.asarray(rgb, dtype=np.uint8).reshape(-1, 3))


def read_colmap_model(folder: Path) -> ColmapModel:
    """The model in ``folder``, from ``.bin`` files if all three exist, else ``.txt`` files.

    A missing ``points3D`` file gives an empty point cloud.

    Raises:
        DatasetError: missing cameras/images files, truncated or malformed records (the file
            and record or line are named), unknown camera model ids.
    """
    folder = Path(folder)
    for ext, cams, imgs, pts in ((".bin", read_cameras_binary, read_images_binary,
                                  read_points3d_binary),
                                 (".txt", read_cameras_text, read_images_text,
                                  read_points3d_text)):
        if (folder / f"cameras{ext}").is_file() and (folder / f"images{ext}").is_file():
            points = folder / f"points3D{ext}"
            xyz, rgb = pts(points) if points.is_file() else (np.zeros((0, 3)),
                                                             np.zeros((0, 3), np.uint8))
            images_path, cameras_path = folder / f"images{ext}", folder / f"cameras{ext}"
            return ColmapModel(cams(cameras_path), imgs(images_path), xyz, rgb, images_path,
                               cameras_path)
    raise DatasetError(f"{folder}: no COLMAP model (cameras.bin + images.bin or cameras.txt "
                       f"+ images.txt)")
