from pathlib import Path

import numpy as np
import pytest
import torch
from scene_fixtures import orbit_c2w_opengl, write_image, write_json

from splat3d.data import (
    READERS,
    DatasetError,
    SceneDataset,
    clear_image_cache,
    detect_format,
    load_dataset,
)
from splat3d.data.images import image_cache_size
from splat3d.train import scene as trainer_scene


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


@pytest.mark.parametrize("files, expected", [
    (["transforms.json"], "nerfstudio"),
    (["transforms_train.json", "transforms_test.json"], "blender"),
    (["sparse/0/cameras.bin", "sparse/0/images.bin"], "colmap"),
    (["sparse/cameras.txt"], "colmap"),
    (["poses_bounds.npy"], "llff"),
    (["poses_bounds.npy", "sparse/0/cameras.bin"], "colmap"),  # Mip-NeRF 360 ships both
    (["intrinsic.txt", "00000.txt"], "scannet"),
])
def test_detect_format(tmp_path: Path, files: list[str], expected: str):
    for f in files:
        _touch(tmp_path / f)
    assert detect_format(tmp_path) == expected


def test_detect_and_format_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match=r"unrecognised dataset folder; looked for"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"unknown dataset format 'mipnerf'; choose from auto, "
                                           r"nerfstudio, blender, colmap, llff, scannet"):
        load_dataset(tmp_path, format="mipnerf")
    _touch(tmp_path / "scene.ply")
    with pytest.raises(DatasetError, match=r"cannot tell the dataset format of a '.ply' file"):
        load_dataset(tmp_path / "scene.ply")
    assert set(READERS) == {"nerfstudio", "blender", "colmap", "llff", "scannet"}
    assert issubclass(DatasetError, ValueError)


def test_real_lego_detection(lego_dir: Path):
    assert detect_format(lego_dir) == "blender"
    assert detect_format(lego_dir / "transforms_train_subset.json") == "nerfstudio"


def _rgba_scene(root: Path, n: int = 4) -> Path:
    frames = []
    for i, m in enumerate(orbit_c2w_opengl(n)):
        write_image(root / "images" / f"f{i}.png", 16, 12, mode="RGBA", seed=i)
        frames.append({"file_path": f"images/f{i}.png", "transform_matrix": m.tolist()})
    return write_json(root / "transforms.json", {"fl_x": 14.0, "w": 16, "h": 12,
                                                 "frames": frames})


def test_image_cache_per_path_and_downscale(tmp_path: Path):
    _rgba_scene(tmp_path)
    clear_image_cache()
    first = load_dataset(tmp_path)
    assert isinstance(first, SceneDataset) and first.format == "nerfstudio"
    assert image_cache_size() == 4
    again = load_dataset(tmp_path / "transforms.json", format="nerfstudio")
    assert image_cache_size() == 4
    torch.testing.assert_close(first.images, again.images)
    half = load_dataset(tmp_path, downscale=2)
    assert image_cache_size() == 8 and half.images.shape == (4, 6, 8, 3)
    write_image(tmp_path / "images" / "f1.png", 16, 12, mode="RGBA", seed=99)  # file changed
    changed = load_dataset(tmp_path)
    assert not torch.allclose(changed.images[1], first.images[1])
    clear_image_cache()
    assert image_cache_size() == 0


def test_dataset_serves_the_trainer_protocol(tmp_path: Path):
    _rgba_scene(tmp_path)
    white = load_dataset(tmp_path)
    black = load_dataset(tmp_path, background=(0, 0, 0))
    assert trainer_scene.split_indices(white, "test") == [0]
    assert trainer_scene.frame_name(white, 2) == "f2"
    image, alpha = trainer_scene.target_view(white, 2, torch.zeros(3), "cpu")
    torch.testing.assert_close(image, black.images[2:3], atol=1e-6, rtol=0)
    torch.testing.assert_close(alpha, white.alpha[2:3])
    train_centres = orbit_c2w_opengl(4)[1:, :3, 3]  # 3DGS: 1.1 x max distance from the mean
    expected = 1.1 * np.linalg.norm(train_centres - train_centres.mean(0), axis=-1).max()
    assert white.scene_scale == pytest.approx(expected, rel=1e-5)


def test_dataset_validation(tmp_path: Path):
    data = load_dataset(_rgba_scene(tmp_path))
    fields = dict(images=data.images, cameras=data.cameras, names=data.names,
                  scene_scale=1.0)
    with pytest.raises(DatasetError, match=r"split 'test' is empty"):
        SceneDataset(**fields, splits={"train": [0], "test": []})
    with pytest.raises(DatasetError, match=r"split 'train' has indices \[7\] outside"):
        SceneDataset(**fields, splits={"train": [0, 7]})
    with pytest.raises(DatasetError, match=r"unique frame names"):
        SceneDataset(**{**fields, "names": ["a", "a", "b", "c"]}, splits={"train": [0]})
    with pytest.raises(DatasetError, match=r"point_colors must match"):
        SceneDataset(**fields, splits={"train": [0]}, points=torch.zeros(5, 3),
                     point_colors=torch.zeros(4, 3))
