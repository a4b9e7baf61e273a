from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scene_fixtures import orbit_c2w_opengl, write_image, write_json

from splat3d.data import DatasetError
from splat3d.data.blender import read_blender
from splat3d.data.images import clear_image_cache, image_cache_size
from splat3d.train.scene import split_indices

LEGO_SUBSET = {"train": "transforms_train_subset.json", "test": "transforms_test_subset.json"}


def test_real_lego_subset(lego_dir: Path):
    clear_image_cache()
    data = read_blender(lego_dir, downscale=8, split_files=LEGO_SUBSET)
    assert image_cache_size() == 24
    assert data.images.shape == (24, 100, 100, 3) and data.alpha.shape == (24, 100, 100, 1)
    assert data.splits == {"train": list(range(20)), "test": list(range(20, 24))}
    assert data.names[:2] == ["train/r_0", "train/r_5"] and data.names[-1] == "test/r_150"
    assert data.format == "blender" and data.depth is None and data.points is None
    torch.testing.assert_close(data.cameras.K[:, 0, 0], torch.full((24,), 1111.1111 / 8))
    # Cameras sit ~4.03 from the origin on a hemisphere: the rig radius is a few units.
    assert 4.0 < data.scene_scale < 9.0
    # Composited exactly as rgb * a + background * (1 - a) of the box-filtered RGBA file.
    rgba = np.asarray(Image.open(lego_dir / "test" / "r_50.png").resize(
        (100, 100), Image.Resampling.BOX), dtype=np.float32) / 255
    expected = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    torch.testing.assert_close(data.images[21], torch.from_numpy(expected))
    torch.testing.assert_close(data.alpha[21], torch.from_numpy(rgba[..., 3:]))
    assert 0.05 < float(data.alpha.mean()) < 0.6  # an object on an empty background

    # Loaded again on black: decoded images come from the cache, and re-compositing the
    # white version with alpha gives the black one.
    black = read_blender(lego_dir, downscale=8, background=(0, 0, 0), split_files=LEGO_SUBSET)
    assert image_cache_size() == 24
    torch.testing.assert_close(data.images - (1 - data.alpha), black.images, atol=1e-6,
                               rtol=0)


def test_real_lego_full_json_reports_missing_image(lego_dir: Path):
    # The original transforms_train.json lists 100 views; only every 5th image is here.
    with pytest.raises(DatasetError, match=r"transforms_train.json frame 1 .*r_1.*not found"):
        read_blender(lego_dir, downscale=8)


def _blender_scene(root: Path, counts: dict[str, int], size=(16, 12)) -> None:
    poses = orbit_c2w_opengl(sum(counts.values()))
    k = 0
    for split, n in counts.items():
        frames = []
        for i in range(n):
            write_image(root / split / f"r_{i}.png", *size, mode="RGBA", seed=k)
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": poses[k].tolist()})
            k += 1
        write_json(root / f"transforms_{split}.json", {"camera_angle_x": 0.7, "frames": frames})


def test_fixture_splits_names_and_background(tmp_path: Path):
    _blender_scene(tmp_path, {"train": 3, "val": 1, "test": 2})
    data = read_blender(tmp_path, background=(0.2, 0.4, 0.6))
    assert data.splits == {"train": [0, 1, 2], "val": [3], "test": [4, 5]}
    assert data.names == ["train/r_0", "train/r_1", "train/r_2", "val/r_0", "test/r_0",
                          "test/r_1"]
    rgba = np.asarray(Image.open(tmp_path / "test" / "r_1.png"), dtype=np.float32) / 255
    bg = np.array([0.2, 0.4, 0.6], dtype=np.float32)
    expected = rgba[..., :3] * rgba[..., 3:] + bg * (1 - rgba[..., 3:])
    torch.testing.assert_close(data.images[5], torch.from_numpy(expected))
    assert data.background == (0.2, 0.4, 0.6)


def test_fixture_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="no Blender split file found"):
        read_blender(tmp_path)
    _blender_scene(tmp_path, {"train": 2, "test": 1})
    with pytest.raises(DatasetError, match=r"transforms_val.json: split file for 'val' not"):
        read_blender(tmp_path, split_files={"train": "transforms_train.json",
                                            "val": "transforms_val.json"})
    write_json(tmp_path / "transforms_val.json", {"camera_angle_x": 0.7, "frames": []})
    with pytest.raises(DatasetError, match=r"transforms_val.json: 'frames' must be a non-empty"):
        read_blender(tmp_path)
    (tmp_path / "transforms_val.json").unlink()
    write_image(tmp_path / "test" / "r_0.png", 8, 8, mode="RGBA")
    with pytest.raises(DatasetError, match=r"frames differ in image size: .*16x12.*8x8"):
        read_blender(tmp_path)
    with pytest.raises(DatasetError, match="background must be an RGB triple"):
        read_blender(tmp_path, background=(0, 0, 2))
    with pytest.raises(DatasetError, match="downscale must be a positive integer"):
        read_blender(tmp_path, downscale=1.5)


def test_scene_without_a_test_split_says_which_splits_exist(tmp_path: Path):
    # the most realistic traceback of the issue: KeyError "dataset has no split 'test'"
    _blender_scene(tmp_path, {"train": 2})
    data = read_blender(tmp_path)
    assert sorted(data.splits) == ["train"]
    with pytest.raises(ValueError, match=rf"^{tmp_path}: no split 'test' \(the dataset has "
                       r"'train'\); give it one \(Blender: transforms_test.json; .*\) or choose "
                       r"one it has with the config's eval_split$"):
        split_indices(data, "test")
