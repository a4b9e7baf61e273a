from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from plyfile import PlyData, PlyElement
from scene_fixtures import orbit_c2w_opengl, write_image, write_json

from splat3d.data import DatasetError, read_transforms_cameras
from splat3d.data.nerfstudio import read_nerfstudio

INTRINSICS = {"fl_x": 20.0, "fl_y": 21.0, "cx": 12.0, "cy": 8.0, "w": 24, "h": 16}


def _scene(root: Path, n: int = 10, **meta) -> dict:
    """``n`` RGB frames listed in reverse order; returns the JSON written."""
    frames = []
    for i, m in enumerate(orbit_c2w_opengl(n)):
        write_image(root / "images" / f"frame_{i:05d}.png", 24, 16, seed=i)
        frames.append({"file_path": f"images/frame_{i:05d}.png", "transform_matrix": m.tolist()})
    data = {**INTRINSICS, "frames": frames[::-1], **meta}
    write_json(root / "transforms.json", data)
    return data


def test_sorted_frames_holdout_split_and_pixels(tmp_path: Path):
    _scene(tmp_path)
    data = read_nerfstudio(tmp_path)
    assert data.names == [f"frame_{i:05d}" for i in range(10)]
    assert data.splits == {"train": [1, 2, 3, 4, 5, 6, 7, 9], "test": [0, 8]}
    pixels = np.asarray(Image.open(tmp_path / "images" / "frame_00003.png"), np.float32) / 255
    torch.testing.assert_close(data.images[3], torch.from_numpy(pixels))
    assert data.alpha is None and data.points is None and data.format == "nerfstudio"
    cams, names = read_transforms_cameras(tmp_path / "transforms.json")
    order = [names.index(n) for n in data.names]
    torch.testing.assert_close(data.cameras.world_to_cam, cams.world_to_cam[order])
    half = read_nerfstudio(tmp_path / "transforms.json", downscale=2)
    assert half.images.shape == (10, 8, 12, 3)
    torch.testing.assert_close(half.cameras.K, cams.resized(12, 8).K[order])


def test_explicit_splits(tmp_path: Path):
    _scene(tmp_path, train_filenames=[f"images/frame_{i:05d}.png" for i in (4, 1, 2)],
           test_filenames=["./images/frame_00009.png"])
    assert read_nerfstudio(tmp_path).splits == {"train": [1, 2, 4], "test": [9]}
    _scene(tmp_path, train_filenames=["images/frame_00001.png", "images/nope.png"])
    with pytest.raises(DatasetError, match=r"'train_filenames' names 1 file.*nope.png"):
        read_nerfstudio(tmp_path)
    _scene(tmp_path, train_filenames=[f"images/frame_{i:05d}.png" for i in range(9)],
           test_filenames=[])
    with pytest.raises(DatasetError, match=r"'test_filenames' is empty"):
        read_nerfstudio(tmp_path)


def test_opencv_frames_are_undistorted_consistently(tmp_path: Path):
    _scene(tmp_path, camera_model="OPENCV", k1=-0.05, k2=0.01, p1=0.002, p2=0.001)
    data = read_nerfstudio(tmp_path)
    cams, names = read_transforms_cameras(tmp_path / "transforms.json")
    torch.testing.assert_close(data.cameras.K, cams.K[[names.index(n) for n in data.names]])
    assert not torch.allclose(data.cameras.K[0, 0, 0], torch.tensor(20.0))
    half = read_nerfstudio(tmp_path, downscale=2)
    torch.testing.assert_close(half.cameras.K, data.cameras.resized(12, 8).K)


def _write_ply(path: Path, n: int, colours: bool) -> np.ndarray:
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if colours:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    v = np.zeros(n, dtype=fields)
    rng = np.random.default_rng(0)
    for k in "xyz":
        v[k] = rng.normal(size=n)
    if colours:
        v["red"], v["green"], v["blue"] = 255, 0, 51
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))
    return np.stack([v["x"], v["y"], v["z"]], -1)


def test_seed_points_from_ply(tmp_path: Path):
    _scene(tmp_path, ply_file_path="sparse_pc.ply")
    xyz = _write_ply(tmp_path / "sparse_pc.ply", 50, colours=True)
    data = read_nerfstudio(tmp_path)
    torch.testing.assert_close(data.points, torch.from_numpy(xyz))
    torch.testing.assert_close(data.point_colors, torch.tensor([[1.0, 0.0, 0.2]]).expand(50, 3))
    _write_ply(tmp_path / "sparse_pc.ply", 5, colours=False)
    data = read_nerfstudio(tmp_path)
    assert data.points.shape == (5, 3) and data.point_colors is None
    (tmp_path / "sparse_pc.ply").write_bytes(b"ply\nformat ascii 1.0\nbroken")
    with pytest.raises(DatasetError, match=r"sparse_pc.ply: no .end_header. line"):
        read_nerfstudio(tmp_path)
    (tmp_path / "sparse_pc.ply").unlink()
    with pytest.raises(DatasetError, match=r"sparse_pc.ply: seed point file not found"):
        read_nerfstudio(tmp_path)


def test_depth_in_millimetres(tmp_path: Path):
    meta = _scene(tmp_path, n=2)
    depth_mm = np.arange(24 * 16, dtype=np.uint16).reshape(16, 24) * 10
    for frame in meta["frames"]:
        name = Path(frame["file_path"]).stem
        Image.fromarray(depth_mm).save(tmp_path / f"{name}_depth.png")
        frame["depth_file_path"] = f"{name}_depth.png"
    write_json(tmp_path / "transforms.json", meta)
    data = read_nerfstudio(tmp_path)
    torch.testing.assert_close(data.depth[1, ..., 0], torch.from_numpy(depth_mm * 1e-3).float())
    half = read_nerfstudio(tmp_path, downscale=2)  # nearest: the centre sample of each block
    torch.testing.assert_close(half.depth[0, ..., 0],
                               torch.from_numpy(depth_mm[1::2, 1::2] * 1e-3).float())


def test_prescaled_images_folder_is_used(tmp_path: Path):
    _scene(tmp_path, n=3)
    small = {i: write_image(tmp_path / "images_2" / f"frame_{i:05d}.png", 12, 8, seed=50 + i)
             for i in range(3)}
    data = read_nerfstudio(tmp_path, downscale=2)
    torch.testing.assert_close(data.images[2], torch.from_numpy(small[2] / np.float32(255)))
    write_image(tmp_path / "images_2" / "frame_00001.png", 11, 5)
    with pytest.raises(DatasetError, match=r"frame 'frame_00001'.*11x5 but the intrinsics are "
                                           r"for 24x16 / 2"):
        read_nerfstudio(tmp_path, downscale=2)


def test_bad_images(tmp_path: Path):
    _scene(tmp_path, n=3)
    write_image(tmp_path / "images" / "frame_00001.png", 20, 16)
    with pytest.raises(DatasetError, match=r"frame 'frame_00001'.*is 20x16 but the intrinsics "
                                           r"are for 24x16"):
        read_nerfstudio(tmp_path)
    full = (tmp_path / "images" / "frame_00000.png").read_bytes()
    (tmp_path / "images" / "frame_00001.png").write_bytes(full[: len(full) // 2])
    with pytest.raises(DatasetError, match=r"frame 'frame_00001'.*cannot decode image"):
        read_nerfstudio(tmp_path)
    (tmp_path / "images" / "frame_00001.png").unlink()
    with pytest.raises(DatasetError, match=r"frame 'frame_00001'.*image file not found"):
        read_nerfstudio(tmp_path)
