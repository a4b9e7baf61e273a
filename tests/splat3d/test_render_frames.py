"""``splat3d render`` / ``splat3d info`` end to end on files written here (and on the real lego
transforms when the shared data is present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from splat3d import Cameras, Gaussians, conventions, rasterize
from splat3d.cli import main
from splat3d.io import save_ply

LEGO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nerf_synthetic_lego_subset"


def write_transforms(path: Path, c2w_gl: torch.Tensor, names: list[str]) -> None:
    frames = [{"file_path": f"images/{n}.png", "transform_matrix": m.tolist()}
              for n, m in zip(names, c2w_gl, strict=True)]
    path.write_text(json.dumps({"fl_x": 40.0, "fl_y": 42.0, "cx": 25.0, "cy": 19.0, "w": 48,
                                "h": 36, "frames": frames}))


@pytest.fixture
def scene(tmp_path):
    g = Gaussians.random_sphere(800, radius=0.8, opacity=0.6, seed=2)
    g.sh[:, 1:] = 0.2 * torch.randn_like(g.sh[:, 1:])
    save_ply(tmp_path / "scene.ply", g)
    eye = torch.tensor([[0.0, -3.0, 1.0], [2.5, 1.0, 0.5]])
    c2w_cv = conventions.look_at(eye, torch.zeros(2, 3), torch.tensor([0.0, 0.0, 1.0]))
    write_transforms(tmp_path / "transforms.json", conventions.opencv_to_opengl(c2w_cv),
                     ["front", "side"])
    K = Cameras.intrinsics(40.0, 42.0, 25.0, 19.0, n=2)
    return g, Cameras.from_opencv_c2w(c2w_cv, K, 48, 36), tmp_path


def test_render_writes_frames_equal_to_rasterize(scene):
    g, cams, tmp = scene
    main(["render", "--ply", str(tmp / "scene.ply"), "--cameras", str(tmp / "transforms.json"),
          "--out", str(tmp / "out"), "--background", "1", "1", "1", "--save-npy"])
    expect = rasterize(g, cams, background=torch.ones(3))
    for i, name in enumerate(["front", "side"]):
        png = np.asarray(Image.open(tmp / "out" / f"{name}.png"))
        assert png.shape == (36, 48, 3) and png.dtype == np.uint8
        want = (expect.rgb[i].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        assert np.abs(png.astype(int) - want.astype(int)).max() <= 1
        np.testing.assert_allclose(np.load(tmp / "out" / f"{name}.npy"), expect.rgb[i].numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(np.load(tmp / "out" / f"{name}_depth.npy"),
                                   expect.depth[i].numpy(), rtol=1e-4, atol=1e-4)
    assert (png < 250).any(), "the scene must be visible against the white background"


def test_render_resizes_keeping_aspect(scene):
    _, _, tmp = scene
    main(["render", "--ply", str(tmp / "scene.ply"), "--cameras", str(tmp / "transforms.json"),
          "--out", str(tmp / "small"), "--width", "24"])
    assert np.asarray(Image.open(tmp / "small" / "front.png")).shape == (18, 24, 3)


def test_info_prints_statistics(scene, capsys):
    _, _, tmp = scene
    main(["info", str(tmp / "scene.ply")])
    out = capsys.readouterr().out
    assert "800" in out


@pytest.mark.skipif(not LEGO.is_dir(), reason=f"lego subset not found at {LEGO}")
def test_render_blender_transforms_with_camera_angle(scene):
    _, _, tmp = scene
    main(["render", "--ply", str(tmp / "scene.ply"), "--cameras",
          str(LEGO / "transforms_test_subset.json"), "--out", str(tmp / "lego"),
          "--width", "32", "--height", "32"])
    assert sorted(p.name for p in (tmp / "lego").glob("*.png")) == [
        "r_0.png", "r_100.png", "r_150.png", "r_50.png"]


def write_file_paths(path: Path, file_paths: list[str]) -> None:
    """transforms.json whose frames all look at the origin from (0, -3, 1), named as given."""
    c2w = conventions.opencv_to_opengl(conventions.look_at(
        torch.tensor([[0.0, -3.0, 1.0]]), torch.zeros(1, 3), torch.tensor([0.0, 0.0, 1.0])))[0]
    frames = [{"file_path": f, "transform_matrix": c2w.tolist()} for f in file_paths]
    path.write_text(json.dumps({"fl_x": 20.0, "w": 24, "h": 18, "frames": frames}))


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def render_args(tmp: Path, cameras: Path, out: Path, *extra: str) -> list[str]:
    return ["render", "--ply", str(tmp / "scene.ply"), "--cameras", str(cameras),
            "--out", str(out), *extra]


@pytest.mark.parametrize("name", ["{tmp}/outside/x", "../../x", "a/../../x", "C:\\x", "..",
                                  "x\x00y"])
def test_render_refuses_frame_names_that_leave_the_folder(scene, capsys, name):
    """Issue #20 item 3: absolute, climbing and drive names wrote PNGs elsewhere. The
    transforms reader now refuses them, in one line naming the frame; nothing is created."""
    _, _, tmp = scene
    write_file_paths(tmp / "hostile.json", [name.format(tmp=tmp), "fine"])
    before = tree(tmp)
    with pytest.raises(SystemExit):
        main(render_args(tmp, tmp / "hostile.json", tmp / "box" / "out", "--save-npy"))
    assert tree(tmp) == before
    err = capsys.readouterr().err
    assert "hostile.json frame 0" in err and err.count("\n") == 1, err


def test_render_gives_every_frame_its_own_file_inside_out(scene, capsys):
    """Names the reader accepts but that clash (case, a folded '..', a device name) still get
    one file each, all inside ``--out``."""
    _, _, tmp = scene
    names = ["x", "X", "CON", "a/../b", "b"]
    write_file_paths(tmp / "clash.json", names)
    out = tmp / "box" / "a" / "out"
    before = tree(tmp)
    main(render_args(tmp, tmp / "clash.json", out, "--save-npy"))
    created = tree(tmp) - before
    assert all(p.startswith("box/a/out/") or p in ("box", "box/a", "box/a/out")
               for p in created), sorted(created)
    assert len(list(out.rglob("*.png"))) == len(names), "two frames shared one file"
    assert len(list(out.rglob("*_depth.npy"))) == len(names)
    assert "frame name(s) changed" in capsys.readouterr().out


def test_render_keeps_split_sub_folders(scene):
    _, _, tmp = scene
    write_file_paths(tmp / "splits.json", ["./test/r_0", "./train/r_0"])
    main(render_args(tmp, tmp / "splits.json", tmp / "out"))
    assert tree(tmp / "out") == {"test", "train", "test/r_0.png", "train/r_0.png"}


def test_render_refuses_a_symlink_out_of_out(scene):
    _, _, tmp = scene
    out, elsewhere = tmp / "out", tmp / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "evil").symlink_to(elsewhere, target_is_directory=True)
    write_file_paths(tmp / "link.json", ["evil/x", "fine/x"])
    with pytest.raises(SystemExit):
        main(render_args(tmp, tmp / "link.json", out))
    assert list(elsewhere.iterdir()) == [] and tree(out) == {"evil"}


@pytest.mark.parametrize(("extra", "message"), [
    (("--background", "nan", "nan", "nan"), "background (nan, nan, nan): expected three RGB"),
    (("--background", "0", "2", "0"), "background (0.0, 2.0, 0.0): expected three RGB"),
    (("--background", "-0.1", "0", "0"), "expected three RGB values in [0, 1]"),
    (("--width", "100000000"), "--width/--height: image size 100000000x75000000"),
    (("--width", "100000", "--height", "100000"), "image size 100000x100000"),
    (("--width", "0"), "image size must be positive"),
    (("--device", "gpu"), "--device 'gpu': not a torch device"),
    pytest.param(("--device", "cuda"), "--device 'cuda': CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")),
])
def test_render_bad_flags_are_one_line_errors(scene, capsys, extra, message):
    _, _, tmp = scene
    with pytest.raises(SystemExit) as exit_:
        main(render_args(tmp, tmp / "transforms.json", tmp / "out", *extra))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("splat3d: error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp / "out").exists(), "nothing is written before the inputs are checked"


def test_render_refuses_a_huge_size_from_the_file_naming_it(scene, capsys):
    _, _, tmp = scene
    meta = json.loads((tmp / "transforms.json").read_text())
    (tmp / "huge.json").write_text(json.dumps(dict(meta, w=10**9, h=10**9)))
    with pytest.raises(SystemExit):
        main(render_args(tmp, tmp / "huge.json", tmp / "out"))
    err = capsys.readouterr().err
    assert "huge.json frame 0" in err and "image width is 1000000000 pixels" in err
    assert err.count("\n") == 1
