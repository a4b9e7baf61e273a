import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scene_fixtures import orbit_c2w_opengl, write_image, write_json

from splat3d.data import DatasetError, read_transforms_cameras
from splat3d.data.camera_model import CameraModel
from splat3d.data.undistort import undistorted_camera


def _frames(n: int, **extra) -> list[dict]:
    return [{"file_path": f"images/frame_{i:03d}.png",
             "transform_matrix": m.tolist(), **extra} for i, m in enumerate(orbit_c2w_opengl(n))]


def _project(cams, index: int, point: torch.Tensor) -> torch.Tensor:
    p = cams.world_to_cam[index, :3, :3] @ point + cams.world_to_cam[index, :3, 3]
    uvw = cams.K[index] @ p
    return torch.cat([uvw[:2] / uvw[2], p[2:]])


def test_real_lego_cameras(lego_dir: Path):
    cams, names = read_transforms_cameras(lego_dir / "transforms_train_subset.json")
    assert names == [f"r_{i}" for i in range(0, 100, 5)]
    assert (cams.width, cams.height) == (800, 800)
    focal = 0.5 * 800 / math.tan(0.5 * 0.6911112070083618)
    torch.testing.assert_close(cams.K[:, 0, 0], torch.full((20,), focal))
    torch.testing.assert_close(cams.K[:, :2, 2], torch.full((20, 2), 400.0))
    # The lego sits at the origin; every camera must see it in front, near the image centre.
    for i in range(len(cams)):
        u, v, z = _project(cams, i, torch.zeros(3))
        assert z > 3.0 and abs(u - 400) < 40 and abs(v - 400) < 40
    # Blender's world z is up: the image's down direction (OpenCV +y) points down in the world.
    down = cams.cam_to_world[:, :3, 1]
    assert (down[:, 2] < 0).all()


def test_real_lego_all_views_with_size_argument(lego_dir: Path):
    # transforms_test.json lists 200 frames of which only 4 images are here: with an explicit
    # size no image header is read.
    cams, names = read_transforms_cameras(lego_dir / "transforms_test.json", width=800,
                                          height=800)
    assert len(cams) == len(names) == 200


def test_global_intrinsics_and_pose_convention(tmp_path: Path):
    c2w_gl = orbit_c2w_opengl(3)
    path = write_json(tmp_path / "transforms.json", {
        "fl_x": 50.0, "fl_y": 55.0, "cx": 31.0, "cy": 23.0, "w": 64, "h": 48,
        "frames": _frames(3)})
    cams, names = read_transforms_cameras(path)
    assert names == ["frame_000", "frame_001", "frame_002"]
    assert (cams.width, cams.height) == (64, 48)
    torch.testing.assert_close(cams.K[1], torch.tensor([[50.0, 0, 31], [0, 55, 23], [0, 0, 1]]))
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    expected_w2c = np.linalg.inv(c2w_gl @ flip)
    torch.testing.assert_close(cams.world_to_cam.double(), torch.from_numpy(expected_w2c),
                               atol=1e-5, rtol=0)
    for i in range(3):
        u, v, z = _project(cams, i, torch.zeros(3))
        torch.testing.assert_close(torch.stack([u, v]), torch.tensor([31.0, 23.0]))


def test_per_frame_intrinsics_override_global(tmp_path: Path):
    frames = _frames(2)
    frames[1].update(fl_x=80.0, cx=30.0)
    path = write_json(tmp_path / "transforms.json",
                      {"fl_x": 50.0, "w": 64, "h": 48, "frames": frames})
    cams, _ = read_transforms_cameras(path)
    torch.testing.assert_close(cams.K[:, 0, 0], torch.tensor([50.0, 80.0]))
    torch.testing.assert_close(cams.K[:, 1, 1], torch.tensor([50.0, 80.0]))  # fl_y <- fl_x
    torch.testing.assert_close(cams.K[:, 0, 2], torch.tensor([32.0, 30.0]))


def test_camera_angle_x_reads_png_headers(tmp_path: Path):
    frames = [{"file_path": f"./train/r_{i}", "transform_matrix": m.tolist()}
              for i, m in enumerate(orbit_c2w_opengl(2))]
    for i in range(2):
        write_image(tmp_path / "train" / f"r_{i}.png", 40, 30, "RGBA")
    path = write_json(tmp_path / "transforms_train.json",
                      {"camera_angle_x": 0.5, "frames": frames})
    cams, names = read_transforms_cameras(path)
    assert names == ["r_0", "r_1"] and (cams.width, cams.height) == (40, 30)
    torch.testing.assert_close(cams.K[0, 0, 0], torch.tensor(20.0 / math.tan(0.25)))
    torch.testing.assert_close(cams.K[0, :2, 2], torch.tensor([20.0, 15.0]))
    cams, _ = read_transforms_cameras(path, width=80, height=60)  # arguments win over headers
    assert (cams.width, cams.height) == (80, 60)


def test_opencv_model_gives_undistorted_pinhole(tmp_path: Path):
    dist = {"k1": -0.1, "k2": 0.01, "p1": 0.001, "p2": -0.002}
    path = write_json(tmp_path / "transforms.json", {
        "camera_model": "OPENCV", "fl_x": 50.0, "fl_y": 50.0, "cx": 32.0, "cy": 24.0,
        "w": 64, "h": 48, **dist, "frames": _frames(1)})
    cams, _ = read_transforms_cameras(path)
    expected = undistorted_camera(
        CameraModel(50.0, 50.0, 32.0, 24.0, 64, 48, **dist), "test").K()
    torch.testing.assert_close(cams.K[0].double(), torch.from_numpy(expected), rtol=0, atol=1e-4)
    assert cams.K[0, 0, 0] < 50.0  # barrel distortion: the frame sees a wider field of view


BAD_CASES = {
    "missing transform_matrix": (lambda d: d["frames"][1].pop("transform_matrix"),
                                 r"frame 1 .*frame_001.*missing key 'transform_matrix'"),
    "missing file_path": (lambda d: d["frames"][0].pop("file_path"),
                          r"frame 0: missing key 'file_path'"),
    "missing focal": (lambda d: d.pop("fl_x"), r"frame 0 .*missing key 'fl_x'"),
    "nan in pose": (lambda d: d["frames"][1]["transform_matrix"][0].__setitem__(3, "NaN"),
                    r"frame 1 .*not a numeric matrix|frame 1 .*non-finite"),
    "singular pose": (lambda d: d["frames"][2].__setitem__(
        "transform_matrix", [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
        r"frame 2 .*singular"),
    "scaled pose": (lambda d: d["frames"][2].__setitem__(
        "transform_matrix", (np.diag([2.0, 2.0, 2.0, 1.0])).tolist()), r"frame 2 .*not rigid"),
    "bad shape": (lambda d: d["frames"][0].__setitem__("transform_matrix", [[1, 0], [0, 1]]),
                  r"frame 0 .*4x4"),
    "fisheye": (lambda d: d.__setitem__("camera_model", "OPENCV_FISHEYE"),
                r"unsupported camera_model 'OPENCV_FISHEYE'"),
    "k4": (lambda d: d.update(camera_model="OPENCV", k4=0.1), r"'k4'"),
    "distortion on pinhole": (lambda d: d.update(camera_model="PINHOLE", k1=0.1),
                              r"'PINHOLE' has no distortion"),
    "negative focal": (lambda d: d.__setitem__("fl_x", -3.0), r"focal lengths must be positive"),
    "string focal": (lambda d: d.__setitem__("fl_x", "50"), r"'fl_x' must be a number"),
    "sizes differ": (lambda d: d["frames"][1].update(w=32, h=24), r"frames differ in image size"),
    "no frames": (lambda d: d.__setitem__("frames", []), r"non-empty list of frames"),
    "zero field of view": (lambda d: d.update(fl_x=None, camera_angle_x=0),
                           r"'camera_angle_x' is 0.0; expected a field of view .* \(0, pi\)"),
    "field of view pi": (lambda d: d.update(fl_x=None, camera_angle_x=math.pi),
                         r"'camera_angle_x' is 3.14159.*; expected .* \(0, pi\)"),
    "negative vertical field of view": (lambda d: d.update(
        fl_x=None, camera_angle_x=0.7, camera_angle_y=-0.1), r"'camera_angle_y' is -0.1"),
    "infinite focal": (lambda d: d.__setitem__("fl_x", math.inf),
                       r"'fl_x' must be a finite number, got inf"),
    "integer focal beyond float": (lambda d: d.__setitem__("fl_x", 10**400),
                                   r"'fl_x' must be a finite number"),
    "infinite width": (lambda d: d.__setitem__("w", math.inf), r"'w' must be a finite number"),
    "huge width": (lambda d: d.__setitem__("w", 100_000),
                   r"image width is 100000 pixels; expected 1 to 32768"),
    "camera at 1e300": (lambda d: d["frames"][1]["transform_matrix"][0].__setitem__(3, 1e300),
                        r"frame 1 .*the camera is 1e\+300 scene units from the origin"),
    "integer beyond float in pose": (
        lambda d: d["frames"][1]["transform_matrix"][0].__setitem__(3, 10**400),
        r"frame 1 .*not a numeric matrix"),
    "overflowing rotation": (lambda d: d["frames"][0].__setitem__(
        "transform_matrix", [[1e200, -1e200, 0, 0], [1e200, 1e200, 0, 0], [0, 0, 1, 0],
                             [0, 0, 0, 1]]), r"frame 0 .*not rigid"),
    "file_path not a string": (lambda d: d["frames"][2].__setitem__("file_path", 7),
                               r"frame 2: 'file_path' must be a non-empty string .* got 7"),
    "absolute file_path": (lambda d: d["frames"][0].__setitem__("file_path", "/etc/passwd"),
                           r"'file_path' is '/etc/passwd'; expected a path relative to the "
                           r"dataset folder"),
    "windows absolute file_path": (lambda d: d["frames"][0].__setitem__(
        "file_path", "C:\\x\\y.png"), r"'file_path' is 'C:/x/y.png'; expected a path relative"),
    "file_path escaping the folder": (
        lambda d: d["frames"][1].__setitem__("file_path", "images/../../../x.png"),
        r"frame 1 .*'file_path' is 'images/../../../x.png', which leads to .*x.png, outside "
        r"the dataset folder"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_files_raise_clear_errors(tmp_path: Path, case: str):
    data = {"fl_x": 50.0, "w": 64, "h": 48, "frames": _frames(3)}
    mutate, pattern = BAD_CASES[case]
    mutate(data)
    path = write_json(tmp_path / "transforms.json", data)
    with pytest.raises(DatasetError, match=pattern) as info:
        read_transforms_cameras(path)
    assert str(path) in str(info.value)


def test_missing_or_broken_file_and_image(tmp_path: Path):
    with pytest.raises(DatasetError, match="file not found"):
        read_transforms_cameras(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text('{"frames": [')
    with pytest.raises(DatasetError, match=r"broken.json: invalid JSON at line 1"):
        read_transforms_cameras(tmp_path / "broken.json")
    path = write_json(tmp_path / "transforms.json",
                      {"camera_angle_x": 0.5, "frames": _frames(1)})
    with pytest.raises(DatasetError, match=r"frame 0 .*image file not found: .*frame_000.png"):
        read_transforms_cameras(path)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "frame_000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"frame 0 .*cannot read image"):
        read_transforms_cameras(path)
    with pytest.raises(DatasetError, match=r"missing key 'views'"):
        read_transforms_cameras(path, frames_key="views")


def test_fov_just_inside_the_open_interval_is_accepted(tmp_path: Path):
    path = write_json(tmp_path / "transforms.json",
                      {"camera_angle_x": math.pi - 1e-6, "w": 64, "h": 48, "frames": _frames(2)})
    cams, _ = read_transforms_cameras(path)
    assert 0 < cams.K[0, 0, 0] < 1e-3  # tan(fov/2) is huge: a tiny but valid focal length


def test_undecodable_json_names_the_file(tmp_path: Path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"frames": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DatasetError, match=r"deep.json: JSON nested too deeply"):
        read_transforms_cameras(deep)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"frames": "\xe9"}')
    with pytest.raises(DatasetError, match=r"latin.json: not a UTF-8 text file"):
        read_transforms_cameras(latin)
    digits = tmp_path / "digits.json"
    digits.write_text('{"fl_x": ' + "9" * 5000 + "}")
    with pytest.raises(DatasetError, match=r"digits.json: unreadable JSON value"):
        read_transforms_cameras(digits)


def test_symlinks_stay_inside_the_dataset_folder(tmp_path: Path):
    scene = tmp_path / "scene"
    write_image(scene / "images" / "frame_000.png", 8, 6)
    write_image(scene / "images" / "frame_001.png", 8, 6)
    outside = tmp_path / "private"
    write_image(outside / "secret.png", 8, 6)
    data = {"camera_angle_x": 0.8, "frames": _frames(2)}
    write_json(scene / "transforms.json", data)
    # A symlinked dataset folder is fine: containment is checked after resolving it.
    (tmp_path / "linked").symlink_to(scene, target_is_directory=True)
    cams, names = read_transforms_cameras(tmp_path / "linked" / "transforms.json")
    assert names == ["frame_000", "frame_001"] and (cams.width, cams.height) == (8, 6)
    # A link inside the folder that leads out of it is refused before the file is opened.
    (scene / "images" / "frame_001.png").unlink()
    (scene / "images" / "frame_001.png").symlink_to(outside / "secret.png")
    with pytest.raises(DatasetError, match=r"frame 1 .*'file_path' is 'images/frame_001.png', "
                       r"which leads through a symbolic link to .*secret.png, outside"):
        read_transforms_cameras(scene / "transforms.json")
    # the same when the file_path has no suffix and ".png" is appended (Blender style)
    data["frames"][1]["file_path"] = "./images/frame_001"
    write_json(scene / "transforms.json", data)
    with pytest.raises(DatasetError, match=r"frame 1 .*'file_path' is 'images/frame_001.png', "
                       r"which leads through a symbolic link to .*secret.png, outside"):
        read_transforms_cameras(scene / "transforms.json")
