"""Good and hostile input files for :mod:`cli_fuzz`: PLY bytes, Blender / nerfstudio / LLFF /
COLMAP scenes, images of every awkward kind, detection box files and pickles that leave a
marker file when they are unpickled.

Everything is written from scratch with numpy / PIL / struct so the files do not depend on the
readers under test; only a good PLY is made with :func:`splat3d.io.save_ply`.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SIZE = 16
"""Side of every scene image (tiny, so that accepted inputs train in seconds)."""


class MarkerPickle:
    """Unpickling this creates ``marker`` (by calling ``open(marker, "w")``): a stand-in for
    the shell command a malicious file would run. Loading must refuse it instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (self.marker, "w")


# ---------------------------------------------------------------- geometry


def ring_c2w_opengl(n: int, offset: float = 0.0, radius: float = 3.0) -> np.ndarray:
    """``[n,4,4]`` OpenGL camera-to-world matrices on a ring looking at the origin, +z up."""
    out = np.zeros((n, 4, 4))
    for i in range(n):
        a = 2 * math.pi * i / n + offset
        eye = np.array([radius * math.cos(a), radius * math.sin(a), 1.0])
        back = eye / np.linalg.norm(eye)  # OpenGL: the camera looks along -z
        right = np.cross([0.0, 0.0, 1.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        out[i, :3, 0], out[i, :3, 1], out[i, :3, 2], out[i, :3, 3] = right, up, back, eye
        out[i, 3, 3] = 1.0
    return out


def opencv_w2c(c2w_gl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP's world-to-camera ``(qvec wxyz, tvec)`` of an OpenGL camera-to-world matrix."""
    c2w = c2w_gl.copy()
    c2w[:3, 1:3] *= -1  # OpenGL -> OpenCV axes
    rot = c2w[:3, :3].T
    t = -rot @ c2w[:3, 3]
    w = math.sqrt(max(1e-12, 1.0 + rot[0, 0] + rot[1, 1] + rot[2, 2])) / 2
    q = np.array([w, (rot[2, 1] - rot[1, 2]) / (4 * w), (rot[0, 2] - rot[2, 0]) / (4 * w),
                  (rot[1, 0] - rot[0, 1]) / (4 * w)])
    return q / np.linalg.norm(q), t


# ---------------------------------------------------------------- PLY


def good_ply_bytes(n: int = 64, sh_degree: int = 1, seed: int = 0) -> bytes:
    """A valid 3DGS PLY (binary little endian) of ``n`` Gaussians in a unit box."""
    import tempfile

    from splat3d.gaussians import Gaussians
    from splat3d.io import save_ply

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.ply"
        save_ply(path, Gaussians.random_box(n, sh_degree=sh_degree, opacity=0.5, seed=seed))
        return path.read_bytes()


def split_ply(data: bytes) -> tuple[str, bytes]:
    """Header text (through ``end_header\\n``) and body bytes."""
    i = data.index(b"end_header\n") + len(b"end_header\n")
    return data[:i].decode("ascii"), data[i:]


def ply_with_values(data: bytes, prop: str, value: float, row: int = 0) -> bytes:
    """``data`` with float property ``prop`` of vertex ``row`` set to ``value``."""
    header, body = split_ply(data)
    props = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    stride = 4 * len(props)
    body = bytearray(body)
    struct.pack_into("<f", body, row * stride + 4 * props.index(prop), value)
    return header.encode("ascii") + bytes(body)


def ascii_ply(data: bytes, big_endian: bool = False) -> bytes:
    """The same Gaussians as ASCII (``big_endian=False``) or big-endian binary PLY."""
    header, body = split_ply(data)
    props = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    rows = np.frombuffer(body, dtype="<f4").reshape(-1, len(props))
    if big_endian:
        return (header.replace("binary_little_endian", "binary_big_endian").encode("ascii")
                + rows.astype(">f4").tobytes())
    text = "\n".join(" ".join(repr(float(v)) for v in r) for r in rows) + "\n"
    return header.replace("binary_little_endian", "ascii").encode("ascii") + text.encode()


def ply_variants(good: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Name -> (file bytes, expectation ``error``/``ok``, what it is) for hostile PLYs."""
    header, body = split_ply(good)
    n = int(next(ln.split()[-1] for ln in header.splitlines() if ln.startswith("element vertex")))
    stride = len(body) // n

    def with_header(new_header: str, new_body: bytes = body) -> bytes:
        return new_header.encode("latin-1") + new_body

    def count(k: str) -> str:
        return header.replace(f"element vertex {n}\n", f"element vertex {k}\n")

    no_opacity = "\n".join(ln for ln in header.splitlines()
                           if ln != "property float opacity") + "\n"
    body_wo = np.frombuffer(body, "<f4").reshape(n, -1)
    props = [ln.split()[-1] for ln in header.splitlines() if ln.startswith("property")]
    keep = [i for i, p in enumerate(props) if p != "opacity"]
    f_rest = [p for p in props if p.startswith("f_rest")]
    rest_5 = "\n".join(ln for ln in header.splitlines()
                       if not any(ln == f"property float {p}" for p in f_rest[5:])) + "\n"
    keep5 = [i for i, p in enumerate(props) if p not in f_rest[5:]]
    return {
        "empty": (b"", "error", "a 0-byte file"),
        "not_ply": (b"hello world\n", "error", "text that is not a PLY"),
        "no_end_header": (header.replace("end_header\n", "").encode(), "error",
                          "header without end_header"),
        "vertex_-1": (with_header(count("-1")), "error", "element vertex -1 (SIGFPE in #20)"),
        "vertex_1e20": (with_header(count("100000000000000000000")), "error",
                        "element vertex 1e20"),
        "vertex_0": (with_header(count("0"), b""), "ok", "zero Gaussians"),
        "more_present": (with_header(header, body + body), "error",
                         f"{n} declared, {2 * n} present (silently {n} in #20)"),
        "fewer_present": (with_header(count(str(2 * n))), "error",
                          f"{2 * n} declared, {n} present"),
        "truncated_record": (good[: len(good) - stride // 2], "error", "last record cut"),
        "no_opacity": (with_header(no_opacity, body_wo[:, keep].astype("<f4").tobytes()),
                       "error", "property opacity missing"),
        "duplicate_property": (with_header(header.replace(
            "property float y\n", "property float x\n")), "error", "two properties 'x'"),
        "unknown_type": (with_header(header.replace("property float x\n",
                                                    "property float128 x\n")), "error",
                         "property type float128"),
        "list_property": (with_header(header.replace("property float x\n",
                                                     "property list uchar float x\n")),
                          "error", "x as a list property"),
        "format_2.0": (with_header(header.replace("1.0", "2.0", 1)), "error",
                       "format version 2.0"),
        "format_bogus": (with_header(header.replace("binary_little_endian", "binary_middle")),
                         "error", "unknown format"),
        "nul_in_header": (with_header(header.replace("ply\n", "ply\ncomment \0\n")), "either",
                          "NUL byte in a comment"),
        "latin1_comment": (with_header(header.replace("ply\n", "ply\ncomment caf\xe9\n")),
                           "either", "a non-ASCII comment (the header is ASCII by the spec)"),
        "nan_position": (ply_with_values(good, "x", float("nan"), 3), "error", "NaN x"),
        "inf_scale": (ply_with_values(good, "scale_0", float("inf"), 1), "error", "inf scale"),
        "zero_quaternion": (ply_with_values(ply_with_values(ply_with_values(ply_with_values(
            good, "rot_0", 0.0), "rot_1", 0.0), "rot_2", 0.0), "rot_3", 0.0), "either",
            "quaternion (0,0,0,0) (graphdeco normalises it to the identity)"),
        "f_rest_5": (with_header(rest_5, body_wo[:, keep5].astype("<f4").tobytes()), "error",
                     "5 f_rest properties (no SH degree)"),
        "ascii": (ascii_ply(good), "ok", "ASCII PLY"),
        "big_endian": (ascii_ply(good, big_endian=True), "ok", "big-endian binary PLY"),
        "huge_comment": (with_header(header.replace("ply\n", "ply\ncomment " + "x" * 2_000_000
                                                    + "\n")), "either",
                         "a 2 MB comment line (a header size limit is fine)"),
    }


# ---------------------------------------------------------------- images


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels, with one row of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * min(width, 64)))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def rgba_image(seed: int, size: int = SIZE) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size, size, 4)) * 255).astype(np.uint8)
    arr[..., 3] = 255
    return Image.fromarray(arr, "RGBA")


def grey16_image(value: int, size: int = SIZE) -> Image.Image:
    """A 16-bit greyscale PNG image (PIL mode ``I;16``) of constant ``value`` in 0..65535."""
    return Image.fromarray(np.full((size, size), value, dtype=np.uint16))


# ---------------------------------------------------------------- scenes


def write_blender(root: Path, meta: dict | None = None, n_train: int = 4, n_test: int = 2,
                  image: Any = None, test_split: bool = True) -> Path:
    """A Blender scene: ``transforms_{train,test}.json`` + ``{train,test}/r_i.png``.

    ``meta`` updates the train JSON's top level; ``image(split, i)`` gives the PIL image (or
    raw bytes) of a frame (default random RGBA).
    """
    root.mkdir(parents=True, exist_ok=True)
    splits = [("train", n_train, 0.0)] + ([("test", n_test, 0.4)] if test_split else [])
    for split, n, offset in splits:
        (root / split).mkdir(exist_ok=True)
        frames = []
        for i, m in enumerate(ring_c2w_opengl(n, offset)):
            img = image(split, i) if image is not None else rgba_image(100 * len(split) + i)
            path = root / split / f"r_{i}.png"
            if isinstance(img, bytes):
                path.write_bytes(img)
            else:
                img.save(path)
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": m.tolist()})
        doc: dict[str, Any] = {"camera_angle_x": 0.7, "frames": frames}
        if split == "train" and meta:
            doc.update(meta)
        (root / f"transforms_{split}.json").write_text(json.dumps(doc))
    return root


def nerfstudio_cameras(n: int = 2) -> dict:
    """A transforms.json object with pixel intrinsics (renders without reading images)."""
    frames = [{"file_path": f"images/f_{i}.png", "transform_matrix": m.tolist()}
              for i, m in enumerate(ring_c2w_opengl(n))]
    return {"fl_x": 14.0, "fl_y": 14.0, "cx": 8.0, "cy": 8.0, "w": SIZE, "h": SIZE,
            "frames": frames}


def write_llff(root: Path, poses_bounds: bytes | np.ndarray | None = None,
               n: int = 9) -> Path:
    """An LLFF scene: ``images/`` of ``n`` PNGs and ``poses_bounds.npy`` (given raw or as an
    array; default: the ring cameras with hwf and bounds)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgba_image(i).convert("RGB").save(root / "images" / f"img_{i:02d}.png")
    if poses_bounds is None:
        poses_bounds = good_poses_bounds(n)
    path = root / "poses_bounds.npy"
    if isinstance(poses_bounds, bytes):
        path.write_bytes(poses_bounds)
    else:
        np.save(path, poses_bounds, allow_pickle=poses_bounds.dtype == object)
    return root


def good_poses_bounds(n: int = 9) -> np.ndarray:
    """``[n,17]``: LLFF ``[down, right, back]`` rotation | t | hwf, then near, far."""
    rows = []
    for m in ring_c2w_opengl(n):
        # OpenGL columns (right, up, back) -> LLFF columns (down, right, back)
        rot = np.stack([-m[:3, 1], m[:3, 0], m[:3, 2]], axis=1)
        mat = np.concatenate([rot, m[:3, 3:4], [[SIZE], [SIZE], [14.0]]], axis=1)
        rows.append(np.concatenate([mat.reshape(-1), [0.5, 6.0]]))
    return np.array(rows)


def colmap_text(n: int = 9, camera: str | None = None, image_lines: list[str] | None = None,
                points: str | None = None) -> dict[str, str]:
    """``cameras.txt``, ``images.txt``, ``points3D.txt`` contents of a ring of ``n`` views."""
    cams = camera if camera is not None else f"1 PINHOLE {SIZE} {SIZE} 14 14 8 8\n"
    if image_lines is None:
        image_lines = []
        for i, m in enumerate(ring_c2w_opengl(n)):
            q, t = opencv_w2c(m)
            image_lines.append(" ".join(str(v) for v in [i + 1, *q, *t, 1, f"img_{i:02d}.png"]))
    images = "".join(f"{line}\n\n" for line in image_lines)
    pts = points if points is not None else "".join(
        f"{i + 1} {x} {y} {z} 128 128 128 0.5\n"
        for i, (x, y, z) in enumerate(np.random.default_rng(0).uniform(-0.5, 0.5, (20, 3))))
    return {"cameras.txt": cams, "images.txt": images, "points3D.txt": pts}


def colmap_binary(n: int = 9) -> dict[str, bytes]:
    """``cameras.bin``, ``images.bin``, ``points3D.bin`` of the same ring (COLMAP layout)."""
    cams = struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, 1, SIZE, SIZE) + struct.pack(
        "<4d", 14, 14, 8, 8)
    images = struct.pack("<Q", n)
    for i, m in enumerate(ring_c2w_opengl(n)):
        q, t = opencv_w2c(m)
        images += (struct.pack("<i4d3di", i + 1, *q, *t, 1) + f"img_{i:02d}.png".encode()
                   + b"\0" + struct.pack("<Q", 0))
    xyz = np.random.default_rng(0).uniform(-0.5, 0.5, (20, 3))
    pts = struct.pack("<Q", len(xyz))
    for i, p in enumerate(xyz):
        pts += struct.pack("<Q3d3BdQ", i + 1, *p, 128, 128, 128, 0.5, 0)
    return {"cameras.bin": cams, "images.bin": images, "points3D.bin": pts}


def write_colmap(root: Path, files: dict[str, str | bytes], n: int = 9) -> Path:
    """A COLMAP scene: ``images/`` and ``sparse/0/`` holding ``files``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "sparse" / "0").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgba_image(i).convert("RGB").save(root / "images" / f"img_{i:02d}.png")
    for name, data in files.items():
        path = root / "sparse" / "0" / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return root


# ---------------------------------------------------------------- detection

DET_CLASSES = ("chair", "table")
"""Classes of the fuzz detector (ScanNet names)."""


def box_json(scene: str, boxes: list[dict]) -> str:
    return json.dumps({"scene": scene, "boxes": boxes})


def good_box(**override: Any) -> dict:
    box = {"center": [0.5, 0.5, 0.5], "size": [0.4, 0.4, 0.6], "yaw": 0.0, "label": "chair",
           "score": 0.9}
    box.update(override)
    return box


def scannet_bbox_rows(*rows: list[float]) -> np.ndarray:
    """``[N,7]`` ScanNet VoteNet box rows ``x y z dx dy dz nyu40_id`` (5 = chair)."""
    return np.array(rows or [[0.5, 0.5, 0.5, 0.4, 0.4, 0.6, 5]], dtype=np.float64)


def write_detector(path: Path) -> Path:
    """An untrained tiny detector file for ``detect run``."""
    from detection.model import DetectorConfig
    from detection.model.detector import GaussianDetector

    path.parent.mkdir(parents=True, exist_ok=True)
    GaussianDetector(DetectorConfig(channels=(8, 8, 16), head_channels=8), DET_CLASSES).save(path)
    return path


def write_torch_pickle(path: Path, obj: Any) -> Path:
    """``torch.save(obj)``: the zip container a checkpoint uses, with a pickle inside."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path
