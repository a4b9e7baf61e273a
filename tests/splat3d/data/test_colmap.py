"""COLMAP reader tests on fixtures written here in COLMAP's exact binary and text layouts."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from scene_fixtures import write_image

from splat3d import conventions
from splat3d.data import DatasetError
from splat3d.data.colmap import colmap_camera_model, read_colmap
from splat3d.data.colmap_model import CAMERA_MODELS, ColmapCamera, read_colmap_model
from splat3d.data.undistort import undistorted_camera

MODEL_IDS = {name: i for i, (name, _) in CAMERA_MODELS.items()}


# ----------------------------------------------------------------------------- tiny writer
def rotmat_to_quat(r: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix (Shepperd's method, branch on the largest term)."""
    t = np.trace(r)
    if t > 0:
        s = 2 * np.sqrt(1 + t)
        return np.array([s / 4, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s,
                         (r[1, 0] - r[0, 1]) / s])
    i = int(np.argmax(np.diag(r)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = 2 * np.sqrt(1 + r[i, i] - r[j, j] - r[k, k])
    q = np.empty(4)
    q[0] = (r[k, j] - r[j, k]) / s
    q[1 + i], q[1 + j], q[1 + k] = s / 4, (r[j, i] + r[i, j]) / s, (r[k, i] + r[i, k]) / s
    return q


def write_model(folder: Path, cameras, images, points, binary: bool) -> None:
    """cameras: [(id, model, w, h, params)]; images: [(id, qvec, tvec, cam_id, name)];
    points: (xyz [P,3], rgb [P,3])."""
    folder.mkdir(parents=True, exist_ok=True)
    xyz, rgb = points
    if binary:
        with open(folder / "cameras.bin", "wb") as f:
            f.write(struct.pack("<Q", len(cameras)))
            for cid, model, w, h, params in cameras:
                f.write(struct.pack("<iiQQ", cid, MODEL_IDS[model], w, h))
                f.write(struct.pack(f"<{len(params)}d", *params))
        with open(folder / "images.bin", "wb") as f:
            f.write(struct.pack("<Q", len(images)))
            for iid, q, t, cid, name in images:
                f.write(struct.pack("<i7di", iid, *q, *t, cid) + name.encode() + b"\0")
                f.write(struct.pack("<Q", 2) + struct.pack("<ddqddq", 1.5, 2.5, -1, 3.0, 4.0, 0))
        with open(folder / "points3D.bin", "wb") as f:
            f.write(struct.pack("<Q", len(xyz)))
            for i, (p, c) in enumerate(zip(xyz, rgb, strict=True)):
                f.write(struct.pack("<Q3d3BdQ", i + 1, *p, *c, 0.5, 2))
                f.write(struct.pack("<iiii", 1, 0, 2, 1))
        return
    lines = ["# Camera list with one line of data per camera:",
             "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    lines += [f"{cid} {model} {w} {h} " + " ".join(repr(float(p)) for p in params)
              for cid, model, w, h, params in cameras]
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:"]
    for n, (iid, q, t, cid, name) in enumerate(images):
        lines.append(f"{iid} " + " ".join(repr(float(v)) for v in (*q, *t)) + f" {cid} {name}")
        lines.append("" if n % 2 else "1.5 2.5 -1 3.0 4.0 0")  # 2D points, possibly none
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    lines = ["# 3D point list with one line of data per point:"]
    lines += [f"{i + 1} {p[0]!r} {p[1]!r} {p[2]!r} {c[0]} {c[1]} {c[2]} 0.5 1 0 2 1"
              for i, (p, c) in enumerate(zip(xyz.tolist(), rgb.tolist(), strict=True))]
    (folder / "points3D.txt").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- fixture scene
def _scene(root: Path, binary: bool, n: int = 9, model=("PINHOLE", (30.0, 31.0, 16.0, 12.0)),
           size=(32, 24)) -> dict:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    eyes = torch.tensor(np.stack([4 * np.cos(angles), 4 * np.sin(angles), np.full(n, 1.5)], -1))
    c2w = conventions.look_at(eyes, torch.zeros(n, 3, dtype=torch.float64),
                              torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)).numpy()
    images = []
    for i in range(n):
        w2c = np.linalg.inv(c2w[i])
        name = f"img_{(i * 7) % n:03d}.png"  # ids and names in different orders
        images.append((100 + i, rotmat_to_quat(w2c[:3, :3]), w2c[:3, 3], 1, name))
        write_image(root / "images" / name, *size, seed=i)
    rng = np.random.default_rng(0)
    points = (rng.normal(size=(20, 3)), rng.integers(0, 256, (20, 3)))
    write_model(root / "sparse" / "0", [(1, model[0], *size, model[1])], images, points, binary)
    return {"c2w": c2w, "images": images, "points": points}


@pytest.mark.parametrize("binary", [True, False])
def test_reads_poses_intrinsics_points(tmp_path: Path, binary: bool):
    truth = _scene(tmp_path, binary)
    data = read_colmap(tmp_path)
    assert data.format == "colmap" and data.images.shape == (9, 24, 32, 3)
    assert data.names == [f"img_{i:03d}" for i in range(9)]  # sorted by image name
    assert data.splits == {"train": [1, 2, 3, 4, 5, 6, 7], "test": [0, 8]}
    by_name = {im[4]: k for k, im in enumerate(truth["images"])}
    order = [by_name[f"{n}.png"] for n in data.names]
    torch.testing.assert_close(data.cameras.cam_to_world.double(),
                               torch.from_numpy(truth["c2w"][order]), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.cameras.K[0], torch.tensor(
        [[30.0, 0, 16], [0, 31, 12], [0, 0, 1]]))
    torch.testing.assert_close(data.points.double(), torch.from_numpy(truth["points"][0]),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(data.point_colors,
                               torch.from_numpy(truth["points"][1] / 255.0).float())


def test_binary_and_text_models_agree(tmp_path: Path):
    _scene(tmp_path / "a", binary=True)
    _scene(tmp_path / "b", binary=False)
    a = read_colmap_model(tmp_path / "a" / "sparse" / "0")
    b = read_colmap_model(tmp_path / "b" / "sparse" / "0")
    assert a.cameras == b.cameras and a.images.keys() == b.images.keys()
    for k in a.images:
        assert a.images[k].name == b.images[k].name
        np.testing.assert_allclose(a.images[k].qvec, b.images[k].qvec)
        np.testing.assert_allclose(a.images[k].tvec, b.images[k].tvec)
    np.testing.assert_array_equal(a.points_xyz, b.points_xyz)
    np.testing.assert_array_equal(a.points_rgb, b.points_rgb)


def test_projection_convention(tmp_path: Path):
    # Camera at world (0, 0, -5) with identity rotation looks along +z at the origin.
    write_image(tmp_path / "images" / "a.png", 32, 24)
    write_model(tmp_path / "sparse" / "0", [(7, "SIMPLE_PINHOLE", 32, 24, (40.0, 16.0, 12.0))],
                [(1, (1.0, 0, 0, 0), (0.0, 0.0, 5.0), 7, "a.png")],
                (np.zeros((0, 3)), np.zeros((0, 3), np.uint8)), binary=True)
    data = read_colmap(tmp_path)
    assert data.points is None
    torch.testing.assert_close(data.cameras.centers[0], torch.tensor([0.0, 0.0, -5.0]))
    p = data.cameras.world_to_cam[0] @ torch.tensor([1.0, 0.5, 0.0, 1.0])
    uv = (data.cameras.K[0] @ p[:3])[:2] / p[2]
    torch.testing.assert_close(uv, torch.tensor([16 + 40 / 5, 12 + 40 * 0.5 / 5]))


@pytest.mark.parametrize("model, params, expect", [
    ("SIMPLE_RADIAL", (30.0, 16.0, 12.0, -0.05), {"k1": -0.05}),
    ("RADIAL", (30.0, 16.0, 12.0, -0.05, 0.01), {"k1": -0.05, "k2": 0.01}),
    ("OPENCV", (30.0, 31.0, 16.0, 12.0, -0.05, 0.01, 0.001, -0.002),
     {"k1": -0.05, "k2": 0.01, "p1": 0.001, "p2": -0.002}),
])
def test_distorted_models_are_undistorted(tmp_path: Path, model, params, expect):
    _scene(tmp_path, binary=True, n=2, model=(model, params))
    data = read_colmap(tmp_path)
    cam = colmap_camera_model(ColmapCamera(1, model, 32, 24, params), "x")
    assert {k: getattr(cam, k) for k in expect} == expect
    torch.testing.assert_close(data.cameras.K[0].double(),
                               torch.from_numpy(undistorted_camera(cam, "x").K()))


def test_prescaled_folder(tmp_path: Path):
    truth = _scene(tmp_path, binary=True, n=2)
    for i, im in enumerate(truth["images"]):
        write_image(tmp_path / "images_2" / im[4], 16, 12, seed=90 + i)
    data = read_colmap(tmp_path, downscale=2)
    assert data.images.shape == (2, 12, 16, 3)
    torch.testing.assert_close(data.cameras.K[0, 0, 0], torch.tensor(15.0))


def test_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="no COLMAP model"):
        read_colmap(tmp_path)
    _scene(tmp_path, binary=True, n=2, model=("OPENCV_FISHEYE", (30.0, 30, 16, 12, 0, 0, 0, 0)))
    with pytest.raises(DatasetError, match=r"image 10[01] .*unsupported COLMAP camera model "
                                           r"'OPENCV_FISHEYE'"):
        read_colmap(tmp_path)
    truth = _scene(tmp_path, binary=True, n=2)
    (tmp_path / "images" / truth["images"][1][4]).unlink()
    with pytest.raises(DatasetError, match=r"frame 'img_001'.*image file not found"):
        read_colmap(tmp_path)
    write_image(tmp_path / "images" / "img_001.png", 30, 24)
    with pytest.raises(DatasetError, match=r"frame 'img_001'.*30x24 but the intrinsics are for"
                                           r" 32x24"):
        read_colmap(tmp_path)
    sparse = tmp_path / "sparse" / "0"
    raw = (sparse / "images.bin").read_bytes()
    (sparse / "images.bin").write_bytes(raw[:-30])
    with pytest.raises(DatasetError, match=r"images.bin: file ends inside image 10"):
        read_colmap(tmp_path)
    raw = (sparse / "cameras.bin").read_bytes()
    (sparse / "cameras.bin").write_bytes(raw[:12] + struct.pack("<i", 42) + raw[16:])
    with pytest.raises(DatasetError, match=r"cameras.bin: camera 1 has unknown camera model id "
                                           r"42"):
        read_colmap_model(sparse)


def test_text_errors(tmp_path: Path):
    write_image(tmp_path / "images" / "a.png", 32, 24)
    write_image(tmp_path / "images" / "b.png", 16, 24)
    sparse = tmp_path / "sparse" / "0"
    empty = (np.zeros((0, 3)), np.zeros((0, 3), np.uint8))
    write_model(sparse, [(1, "PINHOLE", 32, 24, (30.0, 30.0, 16.0, 12.0)),
                         (2, "PINHOLE", 16, 24, (30.0, 30.0, 8.0, 12.0))],
                [(1, (1.0, 0, 0, 0), (0, 0, 5.0), 1, "a.png"),
                 (2, (0.0, 0, 0, 0), (0, 0, 5.0), 2, "b.png")], empty, binary=False)
    with pytest.raises(DatasetError, match=r"image 2 \('b.png'\): invalid rotation quaternion"):
        read_colmap(tmp_path)
    write_model(sparse, [(1, "PINHOLE", 32, 24, (30.0, 30.0, 16.0, 12.0)),
                         (2, "PINHOLE", 16, 24, (30.0, 30.0, 8.0, 12.0))],
                [(1, (1.0, 0, 0, 0), (0, 0, 5.0), 1, "a.png"),
                 (2, (1.0, 0, 0, 0), (0, 0, 5.0), 3, "b.png")], empty, binary=False)
    with pytest.raises(DatasetError, match=r"image 2 .*refers to camera 3"):
        read_colmap(tmp_path)
    write_model(sparse, [(1, "PINHOLE", 32, 24, (30.0, 30.0, 16.0, 12.0)),
                         (2, "PINHOLE", 16, 24, (30.0, 30.0, 8.0, 12.0))],
                [(1, (1.0, 0, 0, 0), (0, 0, 5.0), 1, "a.png"),
                 (2, (1.0, 0, 0, 0), (0, 0, 5.0), 2, "b.png")], empty, binary=False)
    with pytest.raises(DatasetError, match=r"frames differ in image size"):
        read_colmap(tmp_path)
    (sparse / "cameras.txt").write_text("1 PINHOLE 32 24 30 30 16\n")
    with pytest.raises(DatasetError, match=r"cameras.txt:1: camera 1 \(PINHOLE\) needs 4 "):
        read_colmap(tmp_path)
    (sparse / "cameras.txt").write_text("# c\n1 PINHOLE 32 24 30 x 16 12\n")
    with pytest.raises(DatasetError, match=r"cameras.txt:2: malformed value"):
        read_colmap(tmp_path)


@pytest.mark.parametrize("file,what,min_bytes", [("cameras.bin", "camera", 48),
                                                  ("images.bin", "image", 73),
                                                  ("points3D.bin", "point", 51)])
def test_binary_counts_are_checked_against_the_file_size(tmp_path: Path, file, what, min_bytes):
    _scene(tmp_path, binary=True, n=2)
    path = tmp_path / "sparse" / "0" / file
    raw = path.read_bytes()
    # a count of 2^63 used to reach np.empty (points) or loop until the file ran out
    path.write_bytes(struct.pack("<Q", 2**63) + raw[8:])
    with pytest.raises(DatasetError, match=rf"{file}: declares {2**63} {what}s of at least "
                       rf"{min_bytes} bytes each, but only {len(raw) - 8} bytes follow"):
        read_colmap_model(tmp_path / "sparse" / "0")


def test_image_names_stay_inside_the_images_folder(tmp_path: Path):
    write_image(tmp_path / "images" / "a.png", 32, 24)
    empty = (np.zeros((0, 3)), np.zeros((0, 3), np.uint8))
    for name in ("../../outside.png", "/etc/passwd"):
        write_model(tmp_path / "sparse" / "0", [(1, "PINHOLE", 32, 24, (30.0, 30.0, 16, 12))],
                    [(1, (1.0, 0, 0, 0), (0, 0, 5.0), 1, "a.png"),
                     (2, (1.0, 0, 0, 0), (0, 0, 5.0), 1, name)], empty, binary=True)
        with pytest.raises(DatasetError, match=r"images.bin image 2: 'name' is "
                           rf"'{name}'.*(outside the dataset folder|expected a path relative)"):
            read_colmap(tmp_path)


def test_huge_camera_size_is_refused(tmp_path: Path):
    write_image(tmp_path / "images" / "a.png", 32, 24)
    empty = (np.zeros((0, 3)), np.zeros((0, 3), np.uint8))
    write_model(tmp_path / "sparse" / "0", [(1, "PINHOLE", 10**9, 24, (30.0, 30.0, 16, 12))],
                [(1, (1.0, 0, 0, 0), (0, 0, 5.0), 1, "a.png")], empty, binary=True)
    with pytest.raises(DatasetError, match=r"image 1 \('a.png'\): image width is 1000000000 "
                       r"pixels; expected 1 to 32768"):
        read_colmap(tmp_path)


def test_bad_intrinsics_name_the_cameras_file(tmp_path: Path):
    _scene(tmp_path, binary=False, model=("PINHOLE", (float("nan"), 31.0, 16.0, 12.0)))
    with pytest.raises(DatasetError, match=r"cameras\.txt camera 1, used by images\.txt "
                                           r"image 10\d .*'fx' is not finite"):
        read_colmap(tmp_path)
