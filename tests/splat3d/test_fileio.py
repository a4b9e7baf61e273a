import numpy as np
import pytest
import torch
from PIL import Image

from splat3d.fileio import atomic_path, save_npy, save_png


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_png_and_npy_round_trip(tmp_path):
    img = torch.rand(5, 7, 3)
    save_png(tmp_path / "x.png", img)
    back = np.asarray(Image.open(tmp_path / "x.png")).astype(np.float32) / 255
    np.testing.assert_allclose(back, img.numpy(), atol=0.5 / 255 + 1e-6)
    save_png(tmp_path / "g.png", img[..., :1])
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (5, 7)
    save_npy(tmp_path / "x.npy", img.double())
    arr = np.load(tmp_path / "x.npy")
    assert arr.dtype == np.float32 and np.allclose(arr, img.numpy())
