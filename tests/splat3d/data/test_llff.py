import io
from pathlib import Path

import numpy as np
import pytest
import torch
from scene_fixtures import write_image

from splat3d import conventions
from splat3d.data import DatasetError
from splat3d.data.llff import read_llff, read_poses_bounds

H, W, FOCAL = 24, 32, 30.0


def _nerf_llff_to_opengl(c2w: torch.Tensor) -> torch.Tensor:
    """NeRF's load_llff.py reorder: [down, right, back] -> [right, up, back]."""
    return torch.cat([c2w[..., 1:2], -c2w[..., 0:1], c2w[..., 2:]], dim=-1)


def test_llff_to_opencv_agrees_with_nerf_loader_then_opengl_flip():
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(5, 3, 3, generator=gen, dtype=torch.float64))
    c2w = torch.cat([q, torch.randn(5, 3, 1, generator=gen, dtype=torch.float64)], dim=-1)
    via_opengl = conventions.opengl_to_opencv(
        torch.cat([_nerf_llff_to_opengl(c2w[..., :3]), c2w[..., 3:]], -1))
    torch.testing.assert_close(conventions.llff_to_opencv(c2w), via_opengl)


def _scene(root: Path, n: int = 10) -> np.ndarray:
    """LLFF scene of ``n`` cameras looking at the origin; returns their OpenCV c2w."""
    angles = np.linspace(-0.5, 0.5, n)
    eyes = torch.tensor(np.stack([np.sin(angles), np.full(n, -4.0), np.cos(angles)], -1))
    c2w = conventions.look_at(eyes, torch.zeros(n, 3, dtype=torch.float64),
                              torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    llff = torch.stack([c2w[:, :3, 1], c2w[:, :3, 0], -c2w[:, :3, 2], c2w[:, :3, 3]], -1)
    hwf = torch.tensor([H, W, FOCAL], dtype=torch.float64).expand(n, 3)[..., None]
    rows = torch.cat([llff, hwf], -1).reshape(n, 15)
    bounds = torch.tensor([[2.0, 6.0]], dtype=torch.float64).expand(n, 2)
    np.save(root / "poses_bounds.npy", torch.cat([rows, bounds], -1).numpy())
    for i in range(n):
        write_image(root / "images" / f"IMG_{i:04d}.JPG", W, H, seed=i)
    return c2w.numpy()


def test_poses_intrinsics_split(tmp_path: Path):
    c2w = _scene(tmp_path)
    data = read_llff(tmp_path)
    assert data.format == "llff" and data.names == [f"IMG_{i:04d}" for i in range(10)]
    torch.testing.assert_close(data.cameras.cam_to_world.double(), torch.from_numpy(c2w),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(data.cameras.K[0], torch.tensor(
        [[FOCAL, 0, W / 2], [0, FOCAL, H / 2], [0, 0, 1]]))
    assert data.splits == {"train": [1, 2, 3, 4, 5, 6, 7, 9], "test": [0, 8]}
    # The origin, which every camera looks at, projects to the principal point.
    p = data.cameras.world_to_cam[:, :3, 3]
    torch.testing.assert_close(p[:, :2] / p[:, 2:], torch.zeros(10, 2), atol=1e-5, rtol=0)


def test_images_n_folder_and_resizing(tmp_path: Path):
    _scene(tmp_path)
    resized = read_llff(tmp_path, downscale=2)
    assert resized.images.shape == (10, 12, 16, 3)
    for i in range(10):  # LLFF's minify writes PNGs with other names; matched by order
        write_image(tmp_path / "images_2" / f"image{i:03d}.png", 16, 12, seed=70 + i)
    data = read_llff(tmp_path, downscale=2)
    torch.testing.assert_close(data.cameras.K[0, 0, 0], torch.tensor(FOCAL / 2))
    assert data.names[0] == "image000"
    assert not torch.allclose(data.images, resized.images)
    write_image(tmp_path / "images_2" / "image010.png", 16, 12)
    with pytest.raises(DatasetError, match=r"poses_bounds.npy: 10 poses but 11 images in "
                                           r".*images_2"):
        read_llff(tmp_path, downscale=2)


def test_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="poses_bounds.npy: file not found"):
        read_llff(tmp_path)
    _scene(tmp_path, n=3)
    arr = np.load(tmp_path / "poses_bounds.npy")
    np.save(tmp_path / "poses_bounds.npy", arr[:, :15])
    with pytest.raises(DatasetError, match=r"expected an \[N, 17\] array \(N >= 1\), found "
                       r"shape \(3, 15\)"):
        read_llff(tmp_path)
    bad = arr.copy()
    bad[1, 3] = np.nan
    np.save(tmp_path / "poses_bounds.npy", bad)
    with pytest.raises(DatasetError, match=r"poses_bounds.npy: row 1 column 3 is nan; expected "
                       r"finite values"):
        read_llff(tmp_path)
    bad = arr.copy()
    bad[2, 4] = 48.0  # image height 48 in hwf, files are 24 high
    np.save(tmp_path / "poses_bounds.npy", bad)
    with pytest.raises(DatasetError, match=r"frames differ in image size"):
        read_llff(tmp_path)
    bad[:, 4] = 48.0
    np.save(tmp_path / "poses_bounds.npy", bad)
    with pytest.raises(DatasetError, match=r"IMG_0000.*32x24 but the intrinsics are for 32x48"):
        read_llff(tmp_path)
    (tmp_path / "poses_bounds.npy").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="poses_bounds.npy: not a .npy file"):
        read_llff(tmp_path)


def _npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()  # magic string and header


BAD_NPY = {
    "empty file": (lambda p: p.write_bytes(b""), r"empty file; expected a .npy array"),
    "npz under the .npy name": (lambda p: np.savez(p.with_suffix(".tmp"), a=np.zeros((3, 17)))
                                or p.with_suffix(".tmp.npz").rename(p),
                                r"a .npz/zip archive, not a .npy array"),
    "pickled objects": (lambda p: np.save(p, np.array([{"a": 1}] * 17).reshape(1, 17),
                                          allow_pickle=True),
                        r"holds Python objects \(dtype object\), which would need unpickling"),
    "strings": (lambda p: np.save(p, np.full((1, 17), "x")),
                r"dtype <U1; expected a numeric array"),
    "no rows": (lambda p: np.save(p, np.zeros((0, 17))), r"found shape \(0, 17\)"),
    "truncated": (lambda p: p.write_bytes(_npy_header((3, 17)) + bytes(100)),
                  r"header shape \(3, 17\) of float64 needs 408 data bytes, found 100"),
    "huge declared shape": (lambda p: p.write_bytes(_npy_header((10**15, 17)) + bytes(8)),
                            r"header shape \(1000000000000000, 17\)"),
    "unterminated header string": (  # numpy's literal parser raised tokenize.TokenError
        lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '''     \n"),
        r"malformed .npy header"),
    "infinite bound": (lambda p: np.save(p, np.concatenate([np.zeros((2, 16)), [[1], [np.inf]]],
                                                           axis=1)),
                       r"row 1 column 16 is inf; expected finite values"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPY))
def test_bad_poses_bounds_files(tmp_path: Path, case: str):
    write, pattern = BAD_NPY[case]
    path = tmp_path / "poses_bounds.npy"
    write(path)
    with pytest.raises(DatasetError, match=pattern) as info:
        read_poses_bounds(path)
    assert str(info.value).startswith(str(path))
