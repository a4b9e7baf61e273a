import math

import numpy as np
import pytest
import torch
from PIL import Image

import splat3d.turntable as turntable
from splat3d.gaussians import Gaussians
from splat3d.sh import rgb_to_sh_dc
from splat3d.turntable import (
    TurntableConfig,
    orbit_cameras,
    render_turntable,
    save_turntable,
    tile_images,
    write_turntable,
)


@pytest.mark.parametrize("up", [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 2.0, -0.5)])
def test_orbit_cameras_lie_on_the_orbit_and_look_at_the_centre(up):
    config = TurntableConfig(views=7, radius=2.5, elevation_deg=30.0, start_azimuth_deg=15.0,
                             center=(0.3, -0.2, 0.5), up=up, size=40)
    cams = orbit_cameras(config)
    center = torch.tensor(config.center, dtype=torch.float64)
    axis = torch.tensor(up, dtype=torch.float64) / torch.tensor(up).double().norm()
    offsets = cams.centers.double() - center  # [V, 3]
    torch.testing.assert_close(offsets.norm(dim=-1), torch.full((7,), 2.5, dtype=torch.float64),
                               atol=1e-5, rtol=0)
    height = offsets @ axis
    torch.testing.assert_close(height, torch.full((7,), 2.5 * math.sin(math.radians(30.0)),
                                                  dtype=torch.float64), atol=1e-5, rtol=0)
    # Consecutive cameras are 360/7 degrees apart around the axis.
    flat = offsets - height[:, None] * axis
    cos = (flat * flat.roll(-1, 0)).sum(-1) / flat.norm(dim=-1) ** 2
    torch.testing.assert_close(cos, torch.full((7,), math.cos(2 * math.pi / 7),
                                               dtype=torch.float64), atol=1e-5, rtol=0)
    # The optical axis points at the centre, which projects to the image centre.
    forward = cams.cam_to_world[:, :3, 2].double()
    torch.testing.assert_close(forward, -offsets / offsets.norm(dim=-1, keepdim=True),
                               atol=1e-5, rtol=0)
    cam_pts = cams.world_to_cam[:, :3, :3].double() @ center + cams.world_to_cam[:, :3, 3].double()
    pix = (cams.K.double() @ cam_pts[..., None])[..., 0]
    torch.testing.assert_close(pix[:, :2] / pix[:, 2:], torch.full((7, 2), 20.0,
                                                                   dtype=torch.float64),
                               atol=1e-4, rtol=0)
    # The orbit axis appears up in the image (OpenCV: -y is up).
    up_cam = cams.world_to_cam[:, :3, :3].double() @ axis
    assert (up_cam[:, 1] < 0).all()
    torch.testing.assert_close(up_cam[:, 0], torch.zeros(7, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    # The field of view sets the focal length.
    assert cams.K[0, 0, 0].item() == pytest.approx(20.0 / math.tan(math.radians(43.0) / 2))


def test_first_camera_sits_at_the_start_azimuth_for_z_up():
    cams = orbit_cameras(TurntableConfig(views=4, radius=2.0, elevation_deg=0.0,
                                         start_azimuth_deg=90.0))
    torch.testing.assert_close(cams.centers, torch.tensor(
        [[0.0, 2.0, 0.0], [-2.0, 0.0, 0.0], [0.0, -2.0, 0.0], [2.0, 0.0, 0.0]]), atol=1e-6,
        rtol=0)


@pytest.mark.parametrize(("views", "columns", "rows", "cols"),
                         [(8, None, 3, 3), (8, 4, 2, 4), (5, 1, 5, 1), (1, None, 1, 1),
                          (9, None, 3, 3), (3, 5, 1, 5)])
def test_tile_layout_is_row_major(views, columns, rows, cols):
    h, w = 3, 5
    images = torch.arange(views, dtype=torch.float32)[:, None, None, None].expand(
        views, h, w, 3) / 10 + torch.rand(views, h, w, 3) * 0.01
    grid = tile_images(images, columns, fill=(0.9, 0.8, 0.7))
    assert grid.shape == (rows * h, cols * w, 3)
    for r in range(rows):
        for c in range(cols):
            cell = grid[r * h:(r + 1) * h, c * w:(c + 1) * w]
            i = r * cols + c
            if i < views:
                assert torch.equal(cell, images[i])
            else:
                assert torch.equal(cell, torch.tensor([0.9, 0.8, 0.7]).expand(h, w, 3))


def _blob(colour) -> Gaussians:
    sh = torch.zeros(1, 1, 3)
    sh[0, 0] = rgb_to_sh_dc(torch.tensor(colour))
    return Gaussians(torch.zeros(1, 3), torch.tensor([[1.0, 0, 0, 0]]),
                     torch.full((1, 3), math.log(0.2)), torch.tensor([4.0]), sh)


def test_render_puts_the_centre_in_the_middle_over_the_background():
    config = TurntableConfig(views=6, size=32, background=(0.0, 1.0, 0.0))
    images = render_turntable(_blob((1.0, 0.0, 0.0)), config, backend="torch")
    assert images.shape == (6, 32, 32, 3)
    # Every view: red at the centre pixels, pure background in the corners.
    torch.testing.assert_close(images[:, 15:17, 15:17, 0], torch.ones(6, 2, 2), atol=0.05, rtol=0)
    torch.testing.assert_close(images[:, 0, 0], torch.tensor([[0.0, 1.0, 0.0]] * 6))


def test_save_writes_grid_gif_and_mp4_atomically(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    config = TurntableConfig(views=5, size=9, columns=3, fps=5.0)
    images = torch.rand(5, 9, 9, 3)
    files = save_turntable(images, tmp_path / "out", config, stem="tt")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tt.gif", "tt.mp4", "tt.png"]
    grid = np.asarray(Image.open(files.grid)).astype(np.float64) / 255
    np.testing.assert_allclose(grid, tile_images(images, 3, config.background).numpy(),
                               atol=0.5 / 255 + 1e-6)
    gif = Image.open(files.gif)
    assert gif.n_frames == 5 and gif.size == (9, 9) and gif.info["duration"] == 200
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(files.mp4))
    meta = next(reader)
    assert meta["size"] == (10, 10) and meta["fps"] == pytest.approx(5.0)  # odd sides padded
    assert sum(1 for _ in reader) == 5
    assert files.mp4_skipped is None and files.as_dict()["mp4"] == str(files.mp4)


def test_mp4_is_skipped_and_reported_without_an_encoder(tmp_path, monkeypatch):
    monkeypatch.setattr(turntable, "mp4_encoder_missing", lambda: "no MP4 encoder: test")
    files = write_turntable(_blob((0.2, 0.4, 0.9)), tmp_path,
                            TurntableConfig(views=3, size=8), backend="torch")
    assert files.mp4 is None and files.mp4_skipped == "no MP4 encoder: test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["turntable.gif", "turntable.png"]


def test_mp4_encoder_missing_names_the_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ffmpeg(name, *args, **kwargs):
        if name == "imageio_ffmpeg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ffmpeg)
    assert "imageio-ffmpeg" in turntable.mp4_encoder_missing()


def test_a_failed_encoder_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_turntable(torch.rand(2, 4, 4, 3), tmp_path, TurntableConfig(views=2))
    assert list(tmp_path.iterdir()) == []


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="elevation_deg"):
        TurntableConfig(elevation_deg=90.0)
    with pytest.raises(ValueError, match="views"):
        TurntableConfig(views=0)
    with pytest.raises(ValueError, match="up"):
        TurntableConfig(up=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="no images"):
        tile_images(torch.zeros(0, 2, 2, 3))


def test_a_climbing_stem_stays_in_the_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(turntable, "mp4_encoder_missing", lambda: "no MP4 encoder: test")
    out = tmp_path / "a" / "out"
    files = save_turntable(torch.rand(2, 4, 4, 3), out, TurntableConfig(views=2),
                           stem="../../tt")
    assert files.grid == out / "tt.png" and files.gif == out / "tt.gif"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a", "a/out", "a/out/tt.gif", "a/out/tt.png"]
