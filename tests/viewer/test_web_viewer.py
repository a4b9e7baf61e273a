"""The Viewer in-process (no browser): binding rules, layers, screenshots, settings, loading."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from PIL import Image  # noqa: E402

from splat3d import Cameras, Gaussians  # noqa: E402
from splat3d.io import save_ply  # noqa: E402
from viewer import RemoteAccessError, SceneState, Viewer, ViewerConfig, ViserPose  # noqa: E402
from viewer.launch import load_scene, serve  # noqa: E402
from viewer.layers import yaw_to_wxyz  # noqa: E402
from viewer.web_viewer import check_bind_address, is_loopback  # noqa: E402

POSE = ViserPose((0.7071067811865476, -0.7071067811865476, 0.0, 0.0), (0.0, -4.0, 0.0),
                 fov_y=0.8, aspect=1.5)


@pytest.fixture()
def viewer(tmp_path):
    v = Viewer(Gaussians.random_sphere(500, opacity=0.6),
               ViewerConfig(port=0, screenshot_dir=tmp_path / "shots", render_resolution=48))
    yield v
    v.close()


def test_binds_loopback_by_default(viewer):
    assert viewer.config.host == "127.0.0.1"
    assert viewer.url == f"http://127.0.0.1:{viewer.port}" and viewer.port > 0
    assert viewer.num_clients == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.org"])
def test_other_interfaces_need_the_explicit_flag(host, capsys):
    assert not is_loopback(host)
    with pytest.raises(RemoteAccessError, match="--allow-remote"):
        check_bind_address(ViewerConfig(host=host))
    with pytest.raises(RemoteAccessError, match="--require-token"):
        check_bind_address(ViewerConfig(host=host, allow_remote=True))
    check_bind_address(ViewerConfig(host=host, allow_remote=True, require_token=True))
    assert "WARNING" in capsys.readouterr().err
    check_bind_address(ViewerConfig(host=host, allow_remote=True,
                                    allowed_origins=("https://lab.example",)))
    assert "https://lab.example" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_flag(host, capsys):
    check_bind_address(ViewerConfig(host=host))
    assert capsys.readouterr().err == ""


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="render_resolution"):
        ViewerConfig(render_resolution=4)
    with pytest.raises(ValueError, match="mode"):
        ViewerConfig(mode="gpu")


def test_boxes_replace_their_group_and_validate(viewer):
    centers, sizes = np.zeros((3, 3)), np.ones((3, 3))
    viewer.add_boxes(centers, sizes, np.zeros(3), labels=["chair", "table", "chair"])
    assert viewer.boxes.groups == {"boxes": 6}, "a box and a label each"
    viewer.add_boxes(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2),
                     colors=np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    viewer.add_boxes(centers[:1], sizes[:1], np.zeros(1), name="gt")
    assert viewer.boxes.groups == {"boxes": 2, "gt": 1}
    viewer.remove_boxes("gt")
    assert viewer.boxes.groups == {"boxes": 2}
    with pytest.raises(ValueError, match=r"sizes must have shape \(3, 3\)"):
        viewer.add_boxes(centers, np.ones((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="3 boxes but 1 labels"):
        viewer.add_boxes(centers, sizes, np.zeros(3), labels=["x"])
    with pytest.raises(ValueError, match="colors"):
        viewer.add_boxes(centers, sizes, np.zeros(3), colors=np.ones((3, 4)))


def test_yaw_quaternion_turns_x_towards_y():
    from splat3d.gaussians import quat_to_rotmat

    rot = quat_to_rotmat(torch.tensor(yaw_to_wxyz(np.pi / 2), dtype=torch.float64))
    torch.testing.assert_close(rot @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                               torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_training_cameras_and_go_to_camera(viewer):
    eye = torch.tensor([[0.0, -4.0, 1.0], [4.0, 0.0, 1.0]])
    cams = Cameras.from_look_at(eye, torch.zeros(2, 3), fov_x=0.9, width=64, height=48)
    viewer.set_training_cameras(cams, torch.rand(2, 48, 64, 3), ["left", "right"])
    assert viewer.panel.camera.options == ("left", "right")
    np.testing.assert_allclose(viewer.server.initial_camera.position, eye[0].numpy(), atol=1e-5)
    viewer.go_to_camera(None, 1)  # no browsers: nothing to move, no error
    with pytest.raises(ValueError, match="4 cameras but 2 images"):
        viewer.set_training_cameras(Cameras.cat([cams, cams]), torch.rand(2, 48, 64, 3))


def test_go_to_camera_without_cameras_is_an_error(viewer):
    with pytest.raises(ValueError, match="no training cameras"):
        viewer.go_to_camera(None, 0)


def test_screenshot_is_the_server_render(viewer, tmp_path):
    first = viewer.save_screenshot(POSE)
    second = viewer.save_screenshot(POSE)
    assert (first.name, second.name) == ("screenshot_0001.png", "screenshot_0002.png")
    saved = np.asarray(Image.open(first))
    assert saved.shape == (32, 48, 3)
    np.testing.assert_array_equal(saved, viewer.render_view(POSE))
    assert not list(first.parent.glob("*.tmp")), "written atomically"


def test_server_renders_stay_under_the_pixel_cap(tmp_path):
    with Viewer(Gaussians.random_sphere(50), ViewerConfig(
            port=0, max_render_pixels=60 * 40, screenshot_dir=tmp_path)) as v:
        v.set_settings(dataclasses.replace(v.settings, render_resolution=65_536))
        assert v.render_view(POSE).shape == (40, 60, 3)
        assert np.asarray(Image.open(v.save_screenshot(POSE))).shape == (40, 60, 3)


def test_settings_switch_modes_and_hide_the_splats(viewer):
    assert viewer.settings.mode == "client" and viewer._splat_handle.visible
    viewer.set_settings(dataclasses.replace(viewer.settings, mode="server"))
    assert not viewer._splat_handle.visible
    assert viewer.panel.mode.value == "server", "the GUI follows settings made in code"
    viewer.set_settings(dataclasses.replace(viewer.settings, mode="client"))
    assert viewer._splat_handle.visible


def test_pause_flag_is_shared_with_the_state(viewer):
    assert not viewer.paused
    viewer.state.set_paused(True)
    assert viewer.paused
    viewer.state.set_paused(False)
    viewer.wait_while_paused()


def test_a_stop_request_ends_the_wait_while_paused(viewer):
    """SIGTERM while paused from the browser: the trainer's stop check releases the wait."""
    viewer.state.set_paused(True)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) >= 3

    viewer.wait_while_paused(stop, poll_seconds=0.001)
    assert viewer.paused and len(asked) == 3
    viewer.state.set_paused(False)


def test_custom_render_callback_is_used(tmp_path):
    calls = []

    def render_fn(cameras, options):
        calls.append((cameras.width, cameras.height, options.output))
        h, w = cameras.height, cameras.width
        return dataclasses.make_dataclass("Out", ["rgb", "alpha", "depth"])(
            torch.full((1, h, w, 3), 0.5), torch.ones(1, h, w, 1), torch.ones(1, h, w, 1))

    with Viewer(SceneState(), ViewerConfig(port=0), render_fn=render_fn) as v:
        image = v.render_view(POSE, max_side=30)
    assert calls == [(30, 20, "rgb")] and (image == 128).all()


def test_load_scene_reads_a_ply(tmp_path):
    g = Gaussians.random_box(50, sh_degree=1)
    save_ply(tmp_path / "scene.ply", g)
    torch.testing.assert_close(load_scene(tmp_path / "scene.ply").gaussians.means, g.means)


def test_load_scene_reads_a_run_folder_and_explains_other_folders(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"output_dir": str(run)}))
    save_ply(run / "point_cloud.ply", Gaussians.random_box(30))
    with pytest.warns(UserWarning, match="without its training cameras"):
        scene = load_scene(run)
    assert len(scene.gaussians) == 30 and scene.cameras is None
    with pytest.raises(FileNotFoundError, match="without config.json"):
        load_scene(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_scene(tmp_path / "missing.ply")


def test_serve_starts_a_viewer_for_a_file(tmp_path):
    save_ply(tmp_path / "scene.ply", Gaussians.random_box(40))
    with serve(tmp_path / "scene.ply", ViewerConfig(port=0)) as v:
        assert v.state.snapshot().num_gaussians == 40


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_live_updates_reach_connected_browsers(monkeypatch):
    viewer = Viewer(SceneState(Gaussians.random_box(10)),
                    ViewerConfig(port=0, poll_seconds=0.01, splat_push_seconds=0.0))
    try:
        browser = SimpleNamespace(  # what the viewer touches on a connected client
            scene=SimpleNamespace(set_background_image=lambda image: None),
            camera=SimpleNamespace(near=0.01))
        monkeypatch.setattr(viewer.server, "get_clients", lambda: {0: browser})
        viewer.update(Gaussians.random_box(25), step=7, metrics={"loss": 0.5, "psnr": 20.0})
        assert wait_until(lambda: viewer._splat_version == viewer.state.version)
        assert wait_until(lambda: "Step: 7" in viewer.panel.stats.content)
        assert "Gaussians: 25" in viewer.panel.stats.content
        assert "PSNR: 20.00 dB" in viewer.panel.stats.content

        viewer.set_settings(dataclasses.replace(viewer.settings, mode="server"))
        viewer.update(Gaussians.random_box(30), step=8)
        time.sleep(0.1)
        assert viewer._splat_version < viewer.state.version, "server mode uploads no splats"
        viewer.set_settings(dataclasses.replace(viewer.settings, mode="client"))
        assert wait_until(lambda: viewer._splat_version == viewer.state.version)
    finally:
        viewer.close()


def test_view_command_serves_the_page_and_refuses_open_hosts(tmp_path):
    save_ply(tmp_path / "scene.ply", Gaussians.random_box(40))
    command = [sys.executable, "-m", "viewer.launch", str(tmp_path / "scene.ply"), "--port", "0"]
    refused = subprocess.run(command + ["--host", "0.0.0.0"], capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode != 0 and "--allow-remote" in refused.stderr
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while not line.startswith("splat3d viewer:"):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "viewer.launch exited early"
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:") and "40 Gaussians" in line
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("path", ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                  "/..%2f..%2f..%2fetc/passwd", "/scene.ply"])
def test_http_server_serves_only_the_viewer_page(viewer, path):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", viewer.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 404 and b"root:" not in body


def test_settings_changes_never_touch_a_replaced_splat_node():
    # The sync thread replaces the splat node (viser marks the old handle removed) while a
    # settings change shows or hides it; a tiny switch interval makes the two interleave.
    viewer = Viewer(SceneState(Gaussians.random_box(20)), ViewerConfig(port=0, poll_seconds=60))
    errors: list[str] = []
    stop = threading.Event()

    def push_forever() -> None:
        snapshot = viewer.state.snapshot()
        while not stop.is_set():
            try:
                viewer._push_splats(snapshot)
            except RuntimeError as err:
                errors.append(str(err))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    pusher = threading.Thread(target=push_forever)
    try:
        pusher.start()
        for i in range(100):
            mode = "server" if i % 2 else "client"
            try:
                viewer.set_settings(dataclasses.replace(viewer.settings, mode=mode))
            except RuntimeError as err:
                errors.append(str(err))
    finally:
        stop.set()
        pusher.join()
        sys.setswitchinterval(interval)
        viewer.close()
    assert errors == []
