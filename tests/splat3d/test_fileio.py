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


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    with atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o666 & ~mask


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


def test_write_json_is_strict_json(tmp_path):
    import json

    from splat3d.fileio import write_json

    write_json(tmp_path / "m.json", {"ap": float("nan"), "x": [1.0, float("inf")], "n": 2})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and json.loads(text) == {"ap": None, "x": [1.0, None], "n": 2}
