"""ScanNet ``.sens`` RGB-D streams, read frame by frame, and turned into a SceneDataset.

ScanNet (Dai et al., CVPR 2017) ships every scan as one ``<scene>.sens`` file written by its
``SensorData`` C++ class (``ScanNet/SensReader/src/sensorData.h``; the format is described in
``SensReader/README.md``). All numbers are little-endian::

    uint32   version                  (4)
    uint64   sensor-name length L, then L bytes of name
    float32  colour intrinsics 4x4, colour extrinsics 4x4 (row-major)
    float32  depth intrinsics 4x4,  depth extrinsics 4x4
    int32    colour compression       (-1 unknown, 0 raw, 1 png, 2 jpeg)
    int32    depth compression        (-1 unknown, 0 raw_ushort, 1 zlib_ushort, 2 occi_ushort)
    uint32   colour width, colour height, depth width, depth height
    float32  depth shift              (stored value / shift = metres; 1000 for ScanNet)
    uint64   frame count N
    N frames, each:
        float32  camera-to-world 4x4 (OpenCV convention: x right, y down, z forward)
        uint64   colour timestamp, depth timestamp
        uint64   colour byte count C, depth byte count D
        C bytes  colour image (JPEG for ScanNet), D bytes depth (zlib-deflated uint16 rows)

(The C++ writer appends IMU frames after the last RGB-D frame; they are not read here.)
ScanNet marks frames its tracker lost with ``-inf`` poses; :meth:`SensStream.frames` skips
them and counts them in :attr:`SensStream.skipped_poses`.

A scan holds thousands of 1296x968 frames (a few GB), so :class:`SensStream` never loads
the file: it parses the header, then reads one frame record at a time and seeks past the
bytes of frames it does not return. :func:`read_sens_dataset` builds a
:class:`~splat3d.data.dataset.SceneDataset` (OpenCV ``K``, ``world_to_cam``) from every
``step``-th frame so the trainer can reconstruct a scene straight from its ``.sens`` file.

Malformed input raises :class:`SensFormatError` (a ``ValueError``) naming the file, the
field and its byte offset.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from jaxtyping import Float, UInt8
from PIL import Image, UnidentifiedImageError

from splat3d.cameras import Cameras
from splat3d.data.assemble import check_background, check_downscale
from splat3d.data.camera_model import CameraModel
from splat3d.data.dataset import SceneDataset, holdout_splits, rig_radius
from splat3d.data.errors import DatasetError, DatasetWarning
from splat3d.data.images import downscaled_size
from splat3d.data.poses import checked_c2w, is_finite_pose

SENS_VERSION = 4
"""The only ``.sens`` version ScanNet released (and the only one its readers accept)."""
COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
"""``COMPRESSION_TYPE_COLOR`` of ``sensorData.h``."""
DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
"""``COMPRESSION_TYPE_DEPTH`` of ``sensorData.h``."""
MAX_SENSOR_NAME = 1 << 16
"""Longest sensor name accepted; a larger length means the header is not a ``.sens`` one."""
MAX_IMAGE_SIDE = 1 << 15
"""Largest image width or height accepted (ScanNet's are 1296x968 and 640x480); a larger one
means a corrupt header, which must not make :meth:`SensStream.decode_depth` or the dataset
builder allocate gigabytes."""

_FRAME_HEAD = struct.Struct("<16f4Q")  # pose, two timestamps, two byte counts


class SensFormatError(DatasetError):
    """A ``.sens`` file that does not follow the format; names the file, field and offset."""


@dataclass(frozen=True)
class SensHeader:
    """Everything before the first frame of a ``.sens`` file."""

    version: int
    """Format version (always :data:`SENS_VERSION`)."""
    sensor_name: str
    """E.g. ``"StructureSensor"``."""
    intrinsic_color: np.ndarray
    """``[4,4]`` colour intrinsics, float64 (``fx, fy, cx, cy`` in the top-left 3x3)."""
    extrinsic_color: np.ndarray
    """``[4,4]`` colour extrinsics (identity in ScanNet)."""
    intrinsic_depth: np.ndarray
    """``[4,4]`` depth intrinsics."""
    extrinsic_depth: np.ndarray
    """``[4,4]`` depth extrinsics (identity in ScanNet)."""
    color_compression: str
    """A value of :data:`COLOR_COMPRESSION`."""
    depth_compression: str
    """A value of :data:`DEPTH_COMPRESSION`."""
    color_width: int
    """Colour image width in pixels."""
    color_height: int
    """Colour image height in pixels."""
    depth_width: int
    """Depth image width in pixels."""
    depth_height: int
    """Depth image height in pixels."""
    depth_shift: float
    """Stored depth value per metre."""
    num_frames: int
    """Number of frames the header announces."""
    frames_offset: int
    """Byte offset of the first frame record."""


@dataclass(frozen=True)
class SensFrame:
    """One RGB-D frame record, still compressed."""

    index: int
    """Position of the frame in the file (0-based, counting skipped frames)."""
    camera_to_world: np.ndarray
    """``[4,4]`` float64 camera-to-world pose, OpenCV convention (may be non-finite)."""
    timestamp_color: int
    """Colour timestamp as stored (microseconds in ScanNet)."""
    timestamp_depth: int
    """Depth timestamp as stored."""
    color_data: bytes
    """Compressed colour image."""
    depth_data: bytes
    """Compressed depth image."""
    offset: int
    """Byte offset of the frame record in the file."""


class _Reader:
    """Reads fields from a binary file, naming the field and its offset when it falls short."""

    def __init__(self, handle: BinaryIO, path: Path, size: int) -> None:
        self.handle, self.path, self.size = handle, path, size

    @property
    def offset(self) -> int:
        return self.handle.tell()

    def bytes(self, n: int, field: str) -> bytes:
        start = self.offset
        if n > self.size - start:
            raise SensFormatError(
                f"{self.path}: truncated file: {field} needs {n} bytes at byte offset {start} "
                f"but the file ends at byte {self.size}")
        return self.handle.read(n)

    def unpack(self, fmt: str, field: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.bytes(s.size, field))

    def skip(self, n: int, field: str) -> None:
        start = self.offset
        if n > self.size - start:
            raise SensFormatError(
                f"{self.path}: truncated file: {field} needs {n} bytes at byte offset {start} "
                f"but the file ends at byte {self.size}")
        self.handle.seek(n, os.SEEK_CUR)


def _read_header(r: _Reader) -> SensHeader:
    (version,) = r.unpack("I", "version")
    if version != SENS_VERSION:
        raise SensFormatError(f"{r.path}: unsupported .sens version {version} at byte offset 0 "
                              f"(expected {SENS_VERSION})")
    at = r.offset
    (name_len,) = r.unpack("Q", "sensor name length")
    if name_len > MAX_SENSOR_NAME:
        raise SensFormatError(f"{r.path}: sensor name length {name_len} at byte offset {at} is "
                              f"implausible (> {MAX_SENSOR_NAME}); not a .sens file?")
    name = r.bytes(name_len, "sensor name").decode("utf-8", errors="replace")
    matrices = [np.array(r.unpack("16f", field), dtype=np.float64).reshape(4, 4)
                for field in ("colour intrinsics", "colour extrinsics", "depth intrinsics",
                              "depth extrinsics")]
    codes = []
    for field, table in (("colour compression type", COLOR_COMPRESSION),
                         ("depth compression type", DEPTH_COMPRESSION)):
        at = r.offset
        (code,) = r.unpack("i", field)
        if code not in table:
            raise SensFormatError(
                f"{r.path}: unknown {field} {code} at byte offset {at}; expected one of "
                + ", ".join(f"{k} ({v})" for k, v in table.items()))
        codes.append(table[code])
    at = r.offset
    cw, ch, dw, dh = r.unpack("4I", "image sizes")
    if min(cw, ch, dw, dh) < 1 or max(cw, ch, dw, dh) > MAX_IMAGE_SIDE:
        raise SensFormatError(f"{r.path}: image sizes at byte offset {at} must be in "
                              f"1..{MAX_IMAGE_SIDE}, got colour {cw}x{ch}, depth {dw}x{dh}")
    at = r.offset
    (shift,) = r.unpack("f", "depth shift")
    if not (math.isfinite(shift) and shift > 0):
        raise SensFormatError(f"{r.path}: depth shift at byte offset {at} must be a positive "
                              f"number, got {shift}")
    at = r.offset
    (num_frames,) = r.unpack("Q", "frame count")
    # Each frame record has a fixed head, so the count is bounded by the bytes that follow.
    available = r.size - r.offset
    if num_frames * _FRAME_HEAD.size > available:
        raise SensFormatError(
            f"{r.path}: frame count {num_frames} at byte offset {at} needs at least "
            f"{num_frames * _FRAME_HEAD.size} bytes of frame records, but {available} bytes "
            f"follow the header (truncated file or corrupt header)")
    return SensHeader(version, name, *matrices, codes[0], codes[1], cw, ch, dw, dh, float(shift),
                      int(num_frames), r.offset)


class SensStream:
    """A ``.sens`` file opened for streaming; use as a context manager.

    Example:
        >>> with SensStream("scene0000_00.sens") as sens:  # doctest: +SKIP
        ...     for frame in sens.frames(step=10):
        ...         rgb = sens.decode_color(frame)            # [968, 1296, 3] uint8
        ...         depth = sens.decode_depth(frame)          # [480, 640] metres
        ...     print(sens.skipped_poses)                     # frames with -inf poses
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._handle: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        except FileNotFoundError:
            raise DatasetError(f"{self.path}: .sens file not found") from None
        except OSError as err:
            raise DatasetError(f"{self.path}: cannot open .sens file: {err}") from None
        try:
            self._reader = _Reader(self._handle, self.path, os.fstat(self._handle.fileno()).st_size)
            self.header = _read_header(self._reader)
        except BaseException:
            self._handle.close()
            raise
        self.skipped_poses: list[int] = []
        """Indices of the frames the last :meth:`frames` call skipped for non-finite poses."""

    def __enter__(self) -> SensStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def frames(self, step: int = 1, skip_invalid: bool = True) -> Iterator[SensFrame]:
        """Frames ``0, step, 2 step, ...`` in file order, read one at a time.

        Args:
            step: keep every ``step``-th frame (by file index); the others are seeked past.
            skip_invalid: leave out kept frames whose pose is not finite, recording their
                indices in :attr:`skipped_poses` (reset by every call).

        Raises:
            SensFormatError: when the file ends inside a frame record.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"{self.path}: frame step must be a positive integer, got {step!r}")
        self.skipped_poses = []
        return self._iter_frames(step, skip_invalid)

    def _iter_frames(self, step: int, skip_invalid: bool) -> Iterator[SensFrame]:
        r = self._reader
        self._handle.seek(self.header.frames_offset)
        for index in range(self.header.num_frames):
            offset = r.offset
            values = _FRAME_HEAD.unpack(r.bytes(_FRAME_HEAD.size, f"frame {index} header"))
            pose = np.array(values[:16], dtype=np.float64).reshape(4, 4)
            ts_color, ts_depth, n_color, n_depth = values[16:]
            wanted = index % step == 0
            if wanted and skip_invalid and not is_finite_pose(pose):
                self.skipped_poses.append(index)
                wanted = False
            if not wanted:
                r.skip(n_color, f"frame {index} colour data")
                r.skip(n_depth, f"frame {index} depth data")
                continue
            color = r.bytes(n_color, f"frame {index} colour data")
            depth = r.bytes(n_depth, f"frame {index} depth data")
            yield SensFrame(index, pose, ts_color, ts_depth, color, depth, offset)

    def decode_color(self, frame: SensFrame) -> UInt8[np.ndarray, "H W 3"]:
        """The frame's colour image as uint8 RGB at the header's colour size."""
        h = self.header
        where = f"{self.path}: frame {frame.index} (byte offset {frame.offset}) colour"
        if h.color_compression == "raw":
            expected = h.color_width * h.color_height * 3
            if len(frame.color_data) != expected:
                raise SensFormatError(f"{where}: raw data has {len(frame.color_data)} bytes, "
                                      f"expected {expected} for {h.color_width}x{h.color_height}")
            return np.frombuffer(frame.color_data, np.uint8).reshape(h.color_height,
                                                                     h.color_width, 3)
        if h.color_compression not in ("jpeg", "png"):
            raise SensFormatError(f"{where}: cannot decode colour compression "
                                  f"{h.color_compression!r}")
        try:
            with Image.open(io.BytesIO(frame.color_data)) as im:
                # compare the size before decoding, so a lying image header allocates nothing
                if im.size != (h.color_width, h.color_height):
                    raise SensFormatError(f"{where}: image is {im.size[0]}x{im.size[1]} but the "
                                          f"header says {h.color_width}x{h.color_height}")
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
                ValueError) as err:
            if isinstance(err, SensFormatError):
                raise
            raise SensFormatError(f"{where}: not a decodable {h.color_compression} image "
                                  f"({err})") from None

    def decode_depth(self, frame: SensFrame) -> Float[np.ndarray, "H W"]:
        """The frame's depth in metres (stored value / depth shift; 0 = no measurement)."""
        h = self.header
        where = f"{self.path}: frame {frame.index} (byte offset {frame.offset}) depth"
        expected = 2 * h.depth_width * h.depth_height
        if h.depth_compression == "zlib_ushort":
            try:  # at most one byte more than expected: a zlib bomb cannot expand further
                raw = zlib.decompressobj().decompress(frame.depth_data, expected + 1)
            except zlib.error as err:
                raise SensFormatError(f"{where}: corrupt zlib data ({err})") from None
        elif h.depth_compression == "raw_ushort":
            raw = frame.depth_data
        else:
            raise SensFormatError(f"{where}: cannot decode depth compression "
                                  f"{h.depth_compression!r}")
        if len(raw) != expected:
            raise SensFormatError(f"{where}: {len(raw)} bytes of uint16 depth, expected "
                                  f"{expected} for {h.depth_width}x{h.depth_height}")
        values = np.frombuffer(raw, dtype="<u2").reshape(h.depth_height, h.depth_width)
        return values.astype(np.float32) / np.float32(h.depth_shift)


def read_sens_header(path: str | Path) -> SensHeader:
    """The header of a ``.sens`` file (reads only the first few hundred bytes)."""
    with SensStream(path) as sens:
        return sens.header


def color_camera(header: SensHeader, where: str) -> CameraModel:
    """The colour camera of the header at the colour image size."""
    return _camera(header.intrinsic_color, header.color_width, header.color_height,
                   f"{where} colour intrinsics")


def depth_camera(header: SensHeader, where: str) -> CameraModel:
    """The depth camera of the header at the depth image size."""
    return _camera(header.intrinsic_depth, header.depth_width, header.depth_height,
                   f"{where} depth intrinsics")


def _camera(K: np.ndarray, width: int, height: int, where: str) -> CameraModel:
    return CameraModel(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height).check(where)


def depth_on_color_grid(
    depth: Float[np.ndarray, "Hd Wd"], depth_K: Float[np.ndarray, "3 3"],
    color_K: Float[np.ndarray, "3 3"], width: int, height: int,
) -> Float[np.ndarray, "H W"]:
    """Resample a depth map onto another pinhole camera at the same pose (nearest sample).

    The colour pixel centre ``(u + 0.5, v + 0.5)`` is unprojected with ``color_K`` and
    projected with ``depth_K``; its depth is the depth pixel it lands in (0 outside the depth
    image). Exact when both cameras share the optical centre and axes, as ScanNet's do
    (identity extrinsics).
    """
    u = np.arange(width) + 0.5
    v = np.arange(height) + 0.5
    x = (u - color_K[0, 2]) / color_K[0, 0]
    y = (v - color_K[1, 2]) / color_K[1, 1]
    du = np.floor(depth_K[0, 0] * x + depth_K[0, 2]).astype(np.int64)  # [W]
    dv = np.floor(depth_K[1, 1] * y + depth_K[1, 2]).astype(np.int64)  # [H]
    hd, wd = depth.shape
    ok_u, ok_v = (du >= 0) & (du < wd), (dv >= 0) & (dv < hd)
    out = depth[np.clip(dv, 0, hd - 1)[:, None], np.clip(du, 0, wd - 1)[None, :]]
    return np.where(ok_v[:, None] & ok_u[None, :], out, 0.0).astype(np.float32)


def read_sens_dataset(
    path: str | Path, step: int = 1, downscale: int = 1, with_depth: bool = False,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> SceneDataset:
    """Every ``step``-th frame of a ``.sens`` file with a finite pose, as a SceneDataset.

    Colour frames are decoded one at a time and downscaled by an integer factor with a box
    filter (as :func:`splat3d.data.images.load_image`), so memory holds only the kept,
    downscaled frames: a full ScanNet scan needs ``step`` of 10 or more. Every 8th kept
    frame is a test view (:func:`~splat3d.data.dataset.holdout_splits`). Skipped
    non-finite poses are reported in one :class:`~splat3d.data.errors.DatasetWarning`.

    Args:
        path: the ``.sens`` file.
        step: keep frames ``0, step, 2 step, ...`` (by index in the file).
        downscale: integer image downscale factor.
        with_depth: also decode depth (metres), resampled onto the colour pixels with
            :func:`depth_on_color_grid`; needs equal colour and depth extrinsics.
        background: recorded in the dataset (``.sens`` colour has no alpha).

    Raises:
        SensFormatError: malformed or truncated file; DatasetError: no usable frame, bad
            intrinsics or poses, different colour and depth extrinsics with ``with_depth``.
    """
    path = Path(path)
    downscale = check_downscale(downscale)
    bg = check_background(background)
    images, depths, poses, names = [], [], [], []
    with SensStream(path) as sens:
        header = sens.header
        full = color_camera(header, str(path))
        width, height = downscaled_size(header.color_width, header.color_height, downscale)
        cam = full.resized(width, height)
        if with_depth and not np.allclose(header.extrinsic_color, header.extrinsic_depth):
            raise DatasetError(f"{path}: with_depth needs the colour and depth cameras to "
                               f"coincide, but their extrinsics differ")
        # checked like the colour camera: NaN intrinsics would silently give all-zero depth
        depth_K = depth_camera(header, str(path)).K() if with_depth else None
        for frame in sens.frames(step):
            where = f"{path} frame {frame.index}"
            poses.append(checked_c2w(frame.camera_to_world, where))
            pixels = sens.decode_color(frame)
            if downscale > 1:
                pixels = np.asarray(Image.fromarray(pixels).resize(
                    (width, height), Image.Resampling.BOX))
            images.append(torch.from_numpy(pixels.astype(np.float32) / 255.0))
            if with_depth:
                depths.append(torch.from_numpy(depth_on_color_grid(
                    sens.decode_depth(frame), depth_K, cam.K(), width, height)))
            names.append(f"{frame.index:06d}")
        skipped = list(sens.skipped_poses)
    if skipped:
        warnings.warn(f"{path}: {len(skipped)} frame(s) with non-finite poses skipped "
                      f"(tracking lost), first {skipped[:5]}", DatasetWarning, stacklevel=2)
    if not images:
        raise DatasetError(f"{path}: no frame with a finite pose (step {step}, "
                           f"{header.num_frames} frames)")
    K = torch.tensor(cam.K(), dtype=torch.float32)
    cameras = Cameras.from_opencv_c2w(torch.tensor(np.stack(poses)), K, width, height)
    splits = holdout_splits(len(images))
    return SceneDataset(
        images=torch.stack(images), cameras=cameras, splits=splits, names=names,
        scene_scale=rig_radius(cameras, splits["train"]), background=bg,
        depth=torch.stack(depths)[..., None] if with_depth else None,
        source=path, format="scannet-sens")
