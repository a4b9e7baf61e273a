"""ScanNet ``.sens`` reader against files written here, field by field, per the documented
layout (``ScanNet/SensReader/README.md``, ``sensorData.h``)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from detection.data.scannet_sens import (
    SensFormatError,
    SensStream,
    depth_on_color_grid,
    read_sens_dataset,
    read_sens_header,
)
from splat3d.data.errors import DatasetWarning

CW, CH, DW, DH = 32, 24, 16, 12
SHIFT = 1000.0
K_COLOR = np.array([[30.0, 0, 16.0, 0], [0, 31.0, 12.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
K_DEPTH = np.array([[15.0, 0, 8.0, 0], [0, 15.5, 6.25, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def make_frames(n: int, bad: tuple[int, ...] = (2,)) -> list[dict]:
    """Synthetic frames: smooth colour images, depth ramps, poses on a circle (rows ``bad``
    get ScanNet's lost-tracking ``-inf`` pose)."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, :3] = rot_z(0.3 * i) @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = [np.cos(0.3 * i), np.sin(0.3 * i), 1.5]
        if i in bad:
            pose[:] = -np.inf
        yy, xx = np.mgrid[0:CH, 0:CW]
        color = np.stack([xx * 7 + 10 * i, yy * 9, np.full_like(xx, 40 * i % 256)], -1)
        color = (color % 256).astype(np.uint8)
        depth = (500 + 37 * np.arange(DW)[None, :] + 11 * np.arange(DH)[:, None] + i
                 + rng.integers(0, 3, (DH, DW))).astype(np.uint16)
        depth[0, 0] = 0  # a missing measurement
        frames.append({"pose": pose, "color": color, "depth": depth,
                       "ts_color": 1000 * i + 1, "ts_depth": 1000 * i + 2})
    return frames


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def encode_jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_sens(path, frames, version=4, color_type=2, depth_type=1, name=b"StructureSensor",
               extrinsic_depth=None, imu_tail=True):
    """A ``.sens`` file exactly as ``SensorData::saveToFile`` lays it out (little-endian)."""
    out = bytearray()
    out += struct.pack("<I", version)
    out += struct.pack("<Q", len(name)) + name
    ext_depth = np.eye(4) if extrinsic_depth is None else extrinsic_depth
    for m in (K_COLOR, np.eye(4), K_DEPTH, ext_depth):
        out += struct.pack("<16f", *np.asarray(m, dtype=np.float32).reshape(-1))
    out += struct.pack("<i", color_type) + struct.pack("<i", depth_type)
    out += struct.pack("<4I", CW, CH, DW, DH)
    out += struct.pack("<f", SHIFT)
    out += struct.pack("<Q", len(frames))
    for f in frames:
        if color_type == 2:
            color = encode_jpeg(f["color"])
        elif color_type == 1:
            color = encode_png(f["color"])
        else:
            color = f["color"].tobytes()
        raw_depth = f["depth"].astype("<u2").tobytes()
        depth = zlib.compress(raw_depth) if depth_type == 1 else raw_depth
        out += struct.pack("<16f", *f["pose"].astype(np.float32).reshape(-1))
        out += struct.pack("<QQ", f["ts_color"], f["ts_depth"])
        out += struct.pack("<QQ", len(color), len(depth))
        out += color + depth
    if imu_tail:
        out += struct.pack("<Q", 0)  # the C++ writer's IMU frame count
    path.write_bytes(bytes(out))
    return path


@pytest.fixture()
def sens_file(tmp_path):
    return write_sens(tmp_path / "scene.sens", make_frames(5), color_type=1)


def test_header_round_trip(sens_file):
    h = read_sens_header(sens_file)
    assert (h.version, h.sensor_name, h.num_frames) == (4, "StructureSensor", 5)
    assert (h.color_compression, h.depth_compression) == ("png", "zlib_ushort")
    assert (h.color_width, h.color_height, h.depth_width, h.depth_height) == (CW, CH, DW, DH)
    assert h.depth_shift == SHIFT
    np.testing.assert_array_equal(h.intrinsic_color, K_COLOR.astype(np.float32))
    np.testing.assert_array_equal(h.intrinsic_depth, K_DEPTH.astype(np.float32))
    assert h.frames_offset == 4 + 8 + len("StructureSensor") + 4 * 64 + 8 + 16 + 4 + 8


def test_frames_round_trip_and_skip_non_finite_poses(sens_file):
    frames = make_frames(5)
    with SensStream(sens_file) as sens:
        got = list(sens.frames())
        assert [f.index for f in got] == [0, 1, 3, 4]
        assert sens.skipped_poses == [2]
        for f in got:
            ref = frames[f.index]
            np.testing.assert_array_equal(f.camera_to_world, ref["pose"].astype(np.float32))
            assert (f.timestamp_color, f.timestamp_depth) == (ref["ts_color"], ref["ts_depth"])
            np.testing.assert_array_equal(sens.decode_color(f), ref["color"])  # PNG: lossless
            np.testing.assert_array_equal(sens.decode_depth(f),
                                          ref["depth"].astype(np.float32) / np.float32(SHIFT))
        assert sens.decode_depth(got[0])[0, 0] == 0.0
        kept = list(sens.frames(skip_invalid=False))
        assert [f.index for f in kept] == [0, 1, 2, 3, 4] and sens.skipped_poses == []
        assert not np.isfinite(kept[2].camera_to_world).any()


def test_frame_step_and_lazy_reads(tmp_path):
    path = write_sens(tmp_path / "s.sens", make_frames(7, bad=(4,)), color_type=0)
    with SensStream(path) as sens:
        it = sens.frames(step=2)
        first = next(it)
        assert first.index == 0
        assert sens._handle.tell() < path.stat().st_size / 3, "one frame read, not the file"
        rest = list(it)
        assert [f.index for f in rest] == [2, 6] and sens.skipped_poses == [4]
        np.testing.assert_array_equal(sens.decode_color(rest[0]), make_frames(7)[2]["color"])
        with pytest.raises(ValueError, match="step"):
            sens.frames(step=0)


def test_raw_depth_and_jpeg_colour(tmp_path):
    frames = make_frames(2, bad=())
    path = write_sens(tmp_path / "j.sens", frames, color_type=2, depth_type=0)
    with SensStream(path) as sens:
        f = next(sens.frames())
        rgb = sens.decode_color(f).astype(np.float64)
        assert np.abs(rgb - frames[0]["color"]).mean() < 4.0, "JPEG is lossy but close"
        np.testing.assert_array_equal(sens.decode_depth(f),
                                      frames[0]["depth"].astype(np.float32) / np.float32(SHIFT))


def test_wrong_version_names_file_and_offset(tmp_path):
    path = write_sens(tmp_path / "v.sens", make_frames(1), version=3)
    with pytest.raises(SensFormatError, match=r"v\.sens.*version 3 at byte offset 0"):
        read_sens_header(path)


@pytest.mark.parametrize("field,kwargs,offset", [
    ("colour compression type 7", {"color_type": 7}, 4 + 8 + 15 + 256),
    ("depth compression type -5", {"depth_type": -5}, 4 + 8 + 15 + 256 + 4),
])
def test_unknown_compression_names_field_and_offset(tmp_path, field, kwargs, offset):
    path = write_sens(tmp_path / "c.sens", [], **kwargs)
    with pytest.raises(SensFormatError, match=f"unknown {field} at byte offset {offset}"):
        read_sens_header(path)


def test_undecodable_known_compression_is_a_clear_error(tmp_path):
    path = write_sens(tmp_path / "o.sens", make_frames(1, bad=()), depth_type=0)
    data = bytearray(path.read_bytes())
    struct.pack_into("<i", data, 4 + 8 + 15 + 256 + 4, 2)  # claim occi_ushort depth
    path.write_bytes(bytes(data))
    with SensStream(path) as sens, pytest.raises(SensFormatError,
                                                 match="frame 0.*occi_ushort"):
        sens.decode_depth(next(sens.frames()))


@pytest.mark.parametrize("cut", [3, 40, 300])
def test_truncated_header(tmp_path, sens_file, cut):
    path = tmp_path / "cut.sens"
    path.write_bytes(sens_file.read_bytes()[:cut])
    with pytest.raises(SensFormatError, match=r"cut\.sens: truncated file: .* byte offset"):
        read_sens_header(path)


def test_truncated_frame_names_the_frame(tmp_path, sens_file):
    data = sens_file.read_bytes()
    path = tmp_path / "cut.sens"
    path.write_bytes(data[: len(data) - 8 - 50])  # drop the IMU tail and part of frame 4
    with SensStream(path) as sens:
        with pytest.raises(SensFormatError, match=r"frame 4 (colour|depth) data needs \d+ "
                                                  r"bytes at byte offset \d+"):
            list(sens.frames())


def test_corrupt_payloads(tmp_path):
    frames = make_frames(1, bad=())
    path = write_sens(tmp_path / "z.sens", frames, color_type=1)
    data = bytearray(path.read_bytes())
    head = read_sens_header(path).frames_offset
    n_color, n_depth = struct.unpack_from("<QQ", data, head + 64 + 16)
    depth_at = head + 64 + 32 + n_color
    data[depth_at:depth_at + 4] = b"\x00\x00\x00\x00"
    data[head + 64 + 32:head + 64 + 32 + 8] = b"notapng!"
    path.write_bytes(bytes(data))
    with SensStream(path) as sens:
        f = next(sens.frames())
        with pytest.raises(SensFormatError, match="frame 0.*colour: not a decodable png"):
            sens.decode_color(f)
        with pytest.raises(SensFormatError, match="frame 0.*depth: corrupt zlib"):
            sens.decode_depth(f)


def test_missing_file():
    with pytest.raises(ValueError, match="not found"):
        read_sens_header("/nonexistent/x.sens")


def test_depth_resampling_matches_brute_force():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 3.0, (DH, DW)).astype(np.float32)
    kc, kd = K_COLOR[:3, :3], K_DEPTH[:3, :3]
    got = depth_on_color_grid(depth, kd, kc, CW, CH)
    for v in range(CH):
        for u in range(CW):
            # the ray through colour pixel centre (u+.5, v+.5) hits depth pixel (du, dv)
            ray = np.linalg.solve(kc, [u + 0.5, v + 0.5, 1.0])
            p = kd @ ray
            du, dv = int(np.floor(p[0] / p[2])), int(np.floor(p[1] / p[2]))
            inside = 0 <= du < DW and 0 <= dv < DH
            assert got[v, u] == (depth[dv, du] if inside else 0.0)


def test_scene_dataset_from_sens(tmp_path):
    frames = make_frames(10, bad=(2, 5))
    path = write_sens(tmp_path / "scene.sens", frames, color_type=1)
    with pytest.warns(DatasetWarning, match=r"2 frame\(s\) with non-finite poses"):
        data = read_sens_dataset(path, step=1, downscale=2, with_depth=True)
    kept = [0, 1, 3, 4, 6, 7, 8, 9]
    assert data.names == [f"{i:06d}" for i in kept] and data.format == "scannet-sens"
    assert data.images.shape == (8, CH // 2, CW // 2, 3) and data.depth.shape == (8, 12, 16, 1)
    assert data.cameras.width == CW // 2 and data.splits["test"] == [0]
    K = torch.tensor([[15.0, 0, 8.0], [0, 15.5, 6.25], [0, 0, 1]])
    torch.testing.assert_close(data.cameras.K[0], K)
    for j, i in enumerate(kept):
        c2w = torch.tensor(frames[i]["pose"].astype(np.float32), dtype=torch.float64)
        torch.testing.assert_close(data.cameras.world_to_cam[j].double(),
                                   torch.linalg.inv(c2w), atol=1e-6, rtol=0)
        box = frames[i]["color"].reshape(CH // 2, 2, CW // 2, 2, 3).mean((1, 3)) / 255.0
        np.testing.assert_allclose(data.images[j].numpy(), box, atol=1 / 255 + 1e-6)
    # half-size colour camera == full-size depth camera: depth passes through unchanged
    np.testing.assert_allclose(data.depth[1, ..., 0].numpy(),
                               frames[1]["depth"].astype(np.float32) / SHIFT)
    assert read_sens_dataset(path, step=3).names == ["000000", "000003", "000006", "000009"]


def test_scene_dataset_errors(tmp_path):
    path = write_sens(tmp_path / "bad.sens", make_frames(2, bad=(0, 1)))
    with pytest.warns(DatasetWarning), pytest.raises(ValueError, match="no frame with a finite"):
        read_sens_dataset(path)
    shifted = np.eye(4)
    shifted[0, 3] = 0.05
    path = write_sens(tmp_path / "ext.sens", make_frames(1, bad=()), extrinsic_depth=shifted)
    with pytest.raises(ValueError, match="extrinsics differ"):
        read_sens_dataset(path, with_depth=True)
    assert len(read_sens_dataset(path)) == 1
