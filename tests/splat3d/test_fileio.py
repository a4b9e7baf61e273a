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


def test_atomic_path_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path,
                                                                          monkeypatch):
    import os

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "c.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert events == [("fsync", str(tmp)), ("replace", str(target)), ("fsync", str(tmp_path))]
    assert target.read_text() == "x"


def test_remove_temp_files_clears_what_a_killed_writer_left(tmp_path):
    from splat3d.fileio import remove_temp_files

    (tmp_path / "sub").mkdir()
    left = [tmp_path / ".a.ply.x1y2z3w4.tmp", tmp_path / "sub" / ".step_1.pt.abcdefgh.tmp"]
    kept = [tmp_path / "a.ply", tmp_path / "notes.tmp", tmp_path / ".hidden",
            tmp_path / ".notes.tmp"]  # not a name atomic_path makes
    for p in left + kept:
        p.write_bytes(b"data")
    assert sorted(remove_temp_files(tmp_path)) == sorted(left)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(kept)
