"""Server-side rendering: the viewer's image for a camera is the rasterizer's image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from splat3d import Gaussians, RenderOutput, rasterize  # noqa: E402
from splat3d.fileio import to_uint8  # noqa: E402
from viewer.camera_bridge import ViserPose, cameras_from_viser, render_size  # noqa: E402
from viewer.client_render import ClientRenderLoop, target_resolution  # noqa: E402
from viewer.config import LiveSettings, RenderOptions  # noqa: E402
from viewer.scene_state import SceneState  # noqa: E402
from viewer.server_render import RasterizeRenderer, display_image, render_image  # noqa: E402

POSE = ViserPose((0.7071067811865476, -0.7071067811865476, 0.0, 0.0), (0.0, -4.0, 0.0),
                 fov_y=0.8, aspect=4 / 3)
"""A camera 4 units down -y looking along +y (x right, z up in the image)."""


@pytest.fixture(scope="module")
def scene() -> Gaussians:
    torch.manual_seed(0)
    g = Gaussians.random_sphere(400, radius=1.0, opacity=0.7, sh_degree=2)
    g.sh[:, 1:] = 0.2 * torch.randn_like(g.sh[:, 1:])
    g.log_scales -= 1.0  # small splats keep the CPU renders quick
    return g


def test_pose_looks_at_the_origin():
    np.testing.assert_allclose(POSE.rotation[:, 2], [0.0, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("options", [
    RenderOptions(sh_degree=2),
    RenderOptions(sh_degree=1, background=(0.2, 0.4, 1.0), near=3.5),
])
def test_server_render_equals_direct_rasterize(scene, options):
    width, height = render_size(POSE.aspect, 64)
    cameras = cameras_from_viser(POSE, width, height)
    direct = rasterize(scene, cameras, sh_degree=options.sh_degree, near=options.near,
                       background=torch.tensor(options.background))
    image = render_image(RasterizeRenderer(SceneState(scene)), cameras, options)
    assert image.shape == (height, width, 3)
    np.testing.assert_array_equal(image, to_uint8(direct.rgb[0]))
    assert image.std() > 5, "the scene must be in view for the comparison to mean anything"


def test_sh_degree_is_clamped_to_the_scene(scene):
    cameras = cameras_from_viser(POSE, 32, 24)
    out = RasterizeRenderer(SceneState(scene))(cameras, RenderOptions(sh_degree=3))
    torch.testing.assert_close(out.rgb, rasterize(scene, cameras, sh_degree=2).rgb)


def test_feature_output_renders_state_features(scene):
    features = torch.rand(len(scene), 5)
    cameras = cameras_from_viser(POSE, 32, 24)
    renderer = RasterizeRenderer(SceneState(scene, features=features))
    out = renderer(cameras, RenderOptions(output="features"))
    torch.testing.assert_close(out.rgb, rasterize(scene, cameras, colors=features).rgb)
    image = display_image(out, RenderOptions(output="features", feature_channel=3))
    assert image.shape == (24, 32, 3) and image[..., 2].max() == 0, "only channels 3 and 4"
    with pytest.raises(ValueError, match="feature_channel=7"):
        display_image(out, RenderOptions(output="features", feature_channel=7))
    with pytest.raises(ValueError, match="no features"):
        RasterizeRenderer(SceneState(scene))(cameras, RenderOptions(output="features"))


def fake_output(depth: torch.Tensor, alpha: torch.Tensor) -> RenderOutput:
    h, w = depth.shape
    return RenderOutput(rgb=torch.zeros(1, h, w, 3), alpha=alpha.reshape(1, h, w, 1),
                        depth=depth.reshape(1, h, w, 1), means2d=torch.zeros(1, 0, 2),
                        radii=torch.zeros(1, 0, 2, dtype=torch.int32), width=w, height=h)


def test_depth_and_alpha_pictures():
    depth = torch.tensor([[1.0, 2.0], [4.0, 0.0]])
    alpha = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    out = fake_output(depth, alpha)
    grey = display_image(out, RenderOptions(output="depth", background=(0.0, 0.0, 1.0)))
    assert grey[0, 0, 0] > grey[0, 1, 0] > grey[1, 0, 0], "nearer is brighter"
    assert tuple(grey[1, 1]) == (0, 0, 255), "background where nothing was hit"
    np.testing.assert_array_equal(display_image(out, RenderOptions(output="alpha"))[..., 0],
                                  [[255, 255], [255, 0]])


def test_target_resolution_drops_while_moving():
    settings = LiveSettings("server", RenderOptions(), render_resolution=512,
                            preview_resolution=128)
    assert target_resolution(settings, 0.05, settle_seconds=0.25) == 128
    assert target_resolution(settings, 0.30, settle_seconds=0.25) == 512


class FakeCamera:
    """The attributes of ``viser.CameraHandle`` a render loop reads."""

    def __init__(self) -> None:
        self.wxyz, self.position = np.array(POSE.wxyz), np.array(POSE.position)
        self.fov, self.aspect = POSE.fov_y, POSE.aspect
        self.update_timestamp = 0.0


class FakeScene:
    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def set_background_image(self, image, format, jpeg_quality):
        self.images.append(image)


class FakeClient:
    client_id = 0

    def __init__(self) -> None:
        self.camera, self.scene = FakeCamera(), FakeScene()


def test_render_loop_previews_while_moving_then_renders_full_size_once(scene):
    import time

    client = FakeClient()
    state = SceneState(scene)
    settings = LiveSettings("server", RenderOptions(), render_resolution=64,
                            preview_resolution=32)
    loop = ClientRenderLoop(client, RasterizeRenderer(state), state, lambda: settings,
                            settle_seconds=1.0, poll_seconds=0.01, max_pixels=64 * 64)
    render = loop._render_if_needed
    render()
    assert client.scene.images == [], "no camera message yet"
    client.camera.update_timestamp = time.time()  # just moved
    render()
    client.camera.update_timestamp = time.time() - 2.0  # still for 2 s
    render()
    render()  # nothing changed: no new render
    assert [im.shape[1] for im in client.scene.images] == [32, 64]
    state.update(step=1)
    render()
    assert len(client.scene.images) == 3, "a scene update re-renders"
    settings = LiveSettings("client", RenderOptions(), 64, 32)
    render()
    assert len(client.scene.images) == 3, "client mode sends no images"


def test_render_loop_caps_a_forged_resolution(scene):
    import time

    client = FakeClient()
    state = SceneState(scene)
    forged = LiveSettings("server", RenderOptions(), render_resolution=65_536,
                          preview_resolution=8_192)
    loop = ClientRenderLoop(client, RasterizeRenderer(state), state, lambda: forged,
                            settle_seconds=0.0, poll_seconds=0.01, max_pixels=48 * 36)
    client.camera.update_timestamp = time.time() - 1.0
    loop._render_if_needed()
    (image,) = client.scene.images
    assert image.shape[0] * image.shape[1] <= 48 * 36 and image.shape[:2] == (36, 48)
