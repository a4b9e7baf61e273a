import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from scene_fixtures import write_image

from splat3d.data import DatasetError, DatasetWarning
from splat3d.data.scannet import read_scannet


@pytest.fixture(scope="module")
def scannet_info(shared_data: Path) -> dict:
    root = shared_data / "scannet_mmdet3d"
    pkl = root / "tests_v0x_multiview" / "scannet_infos.pkl"
    if not pkl.is_file() or not (root / "demo" / "scene0000_00.bin").is_file():
        pytest.skip(f"ScanNet posed-image sample not found under {root}")
    with open(pkl, "rb") as f:
        return {"root": root, **pickle.load(f)[0]}


def _posed_images_folder(info: dict, out: Path) -> Path:
    """mmdetection3d's posed_images layout from the real frames, poses and intrinsics.

    The shared sample keeps poses and intrinsics in an info PKL; they are written out here as
    ``extract_posed_images.py`` does (``%f`` rows), next to links to the real JPEGs.
    """
    out.mkdir(parents=True)
    for rel, pose in zip(info["img_paths"], info["extrinsics"], strict=True):
        stem = Path(rel).stem
        os.symlink(info["root"] / "tests_v0x_multiview" / rel, out / f"{stem}.jpg")
        np.savetxt(out / f"{stem}.txt", pose, fmt="%f")
    np.savetxt(out / "intrinsic.txt", info["intrinsics"], fmt="%f")
    return out


def _colour_agreement(data, points: np.ndarray, index: int, flip_yz: bool = False) -> float:
    """Correlation of point-cloud colours with the pixels they project to (z-buffered)."""
    xyz, rgb = torch.from_numpy(points[:, :3]), points[:, 3:] / 255
    w2c = data.cameras.world_to_cam[index].clone()
    if flip_yz:
        w2c[1:3] *= -1  # the OpenGL reading of the same matrix
    cam = xyz @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    uv = (cam @ data.cameras.K[index].T)[:, :2] / z[:, None]
    h, w = data.images.shape[1:3]
    inside = (z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    u, v, z = uv[inside, 0].long(), uv[inside, 1].long(), z[inside]
    nearest = torch.full((h * w,), float("inf")).scatter_reduce(0, v * w + u, z, reduce="amin")
    visible = z <= nearest[v * w + u] + 0.05
    pixels = data.images[index][v[visible], u[visible]].numpy()
    return float(np.corrcoef(pixels.ravel(), rgb[inside.numpy()][visible.numpy()].ravel())[0, 1])


def test_real_scannet_frames(scannet_info: dict, tmp_path: Path):
    folder = _posed_images_folder(scannet_info, tmp_path / "scene0000_00")
    data = read_scannet(folder, downscale=4)
    assert data.format == "scannet" and data.names == ["00000", "00011", "00102"]
    assert data.images.shape == (3, 242, 324, 3)  # 1296x968 / 4
    assert data.splits == {"train": [1, 2], "test": [0]}
    K = torch.tensor(scannet_info["intrinsics"][:3, :3], dtype=torch.float32)
    K[:2] /= 4
    torch.testing.assert_close(data.cameras.K, K.expand(3, 3, 3))
    c2w = torch.tensor(np.stack(scannet_info["extrinsics"]), dtype=torch.float32)
    torch.testing.assert_close(data.cameras.cam_to_world, c2w, atol=1e-5, rtol=0)
    # The scene's real coloured point cloud (same raw ScanNet frame) lands on pixels of the
    # same colour; the OpenGL misreading of the poses does not.
    points = np.fromfile(scannet_info["root"] / "demo" / "scene0000_00.bin",
                         dtype=np.float32).reshape(-1, 6)
    for i in range(3):
        assert _colour_agreement(data, points, i) > 0.4
        assert _colour_agreement(data, points, i, flip_yz=True) < 0.2


def test_real_scannet_lost_tracking_is_skipped(scannet_info: dict, tmp_path: Path):
    folder = _posed_images_folder(scannet_info, tmp_path / "scene")
    os.symlink(folder / "00000.jpg", folder / "00200.jpg")
    (folder / "00200.txt").write_text("\n".join(["-inf -inf -inf -inf"] * 4) + "\n")
    with pytest.warns(DatasetWarning, match=r"frame '00200': pose in 00200.txt is not finite"):
        data = read_scannet(folder, downscale=8)
    assert data.names == ["00000", "00011", "00102"]


def _fixture(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.savetxt(root / "intrinsic.txt", [[20, 0, 8, 0], [0, 20, 6, 0], [0, 0, 1, 0],
                                        [0, 0, 0, 1]], fmt="%f")
    for i in range(n):
        pose = np.eye(4)
        pose[:3, 3] = (i, 0, 0)
        np.savetxt(root / f"{i:05d}.txt", pose, fmt="%f")
        write_image(root / f"{i:05d}.jpg", 16, 12, seed=i)
    return root


def test_fixture_errors(tmp_path: Path):
    root = _fixture(tmp_path / "a")
    (root / "00001.jpg").unlink()
    with pytest.raises(DatasetError, match=r"frame '00001'.*image file not found"):
        read_scannet(root)
    root = _fixture(tmp_path / "b")
    (root / "00002.txt").write_text("1 0 0\n0 1 0 0\n")
    with pytest.raises(DatasetError, match=r"frame '00002'.*rows have different lengths"):
        read_scannet(root)
    (root / "00002.txt").write_text("1 0 0 0\n0 0 0 0\n0 0 1 0\n0 0 0 1\n")
    with pytest.raises(DatasetError, match=r"frame '00002'.*singular"):
        read_scannet(root)
    (root / "00002.txt").unlink()
    with pytest.warns(DatasetWarning, match=r"frame '00002' has an image but no pose"):
        assert read_scannet(root).names == ["00000", "00001"]
    (root / "00002.jpg").unlink()
    write_image(root / "00001.jpg", 15, 12)
    with pytest.raises(DatasetError, match=r"frame '00001'.*15x12 but the intrinsics are for "
                                           r"16x12"):
        read_scannet(root)
    root = _fixture(tmp_path / "c", n=1)
    (root / "00000.txt").write_text("\n".join(["-inf -inf -inf -inf"] * 4))
    with pytest.warns(DatasetWarning), pytest.raises(DatasetError, match="no frame has a finite"):
        read_scannet(root)
    (root / "intrinsic.txt").write_text("20 0 8\n0 20 x\n0 0 1\n")
    with pytest.raises(DatasetError, match=r"intrinsic.txt is not a numeric matrix"):
        read_scannet(root)
