"""Keeping one browser's server-side view current: adaptive resolution per camera motion.

While the browser's camera moves, each frame is rendered with the longer side at the
"moving" resolution; once it has been still for ``settle_seconds``, the view is rendered once
more at full resolution. A render is skipped when nothing it depends on changed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import viser

from viewer.camera_bridge import ViserPose, cameras_from_viser, render_size
from viewer.config import LiveSettings
from viewer.scene_state import SceneState
from viewer.server_render import RenderFn, render_image


def client_pose(camera: viser.CameraHandle) -> ViserPose:
    """The browser camera's current pose (aspect from its canvas size)."""
    return ViserPose(tuple(float(v) for v in camera.wxyz),
                     tuple(float(v) for v in camera.position),
                     float(camera.fov), float(camera.aspect))


def target_resolution(settings: LiveSettings, seconds_since_move: float,
                      settle_seconds: float) -> int:
    """Longest image side to render now: the moving resolution until the camera settles."""
    if seconds_since_move < settle_seconds:
        return min(settings.preview_resolution, settings.render_resolution)
    return settings.render_resolution


class ClientRenderLoop:
    """A thread that renders one browser's view whenever the viewer is in server mode;
    no render exceeds ``max_pixels`` pixels, whatever size the browser asks for."""

    def __init__(
        self,
        client: viser.ClientHandle,
        render_fn: RenderFn,
        state: SceneState,
        settings: Callable[[], LiveSettings],
        settle_seconds: float,
        poll_seconds: float,
        max_pixels: int,
    ) -> None:
        self._client = client
        self._render_fn = render_fn
        self._state = state
        self._settings = settings
        self._settle = settle_seconds
        self._poll = poll_seconds
        self._max_pixels = max_pixels
        self._last_key: tuple | None = None
        self._last_error = ""
        self._stop = threading.Event()
        self.frames = 0
        """Images sent so far (tests and diagnostics read it)."""
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"splat3d-view-{client.client_id}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self._render_if_needed()
            except Exception as err:  # keep serving; tell the user once per distinct error
                message = f"{type(err).__name__}: {err}"
                if message != self._last_error:
                    self._last_error = message
                    print(f"splat3d viewer: server-side render failed: {message}",
                          file=sys.stderr)
                    self._client.add_notification("Render failed", message,
                                                  auto_close_seconds=8.0, color="red")

    def _render_if_needed(self) -> None:
        settings = self._settings()
        camera = self._client.camera
        if settings.mode != "server" or camera.update_timestamp == 0.0:
            self._last_key = None
            return
        pose = client_pose(camera)
        side = target_resolution(settings, time.time() - camera.update_timestamp, self._settle)
        width, height = render_size(pose.aspect, side, self._max_pixels)
        key = (pose, width, height, settings.options, self._state.version)
        if key == self._last_key:
            return
        image = render_image(self._render_fn, cameras_from_viser(pose, width, height),
                             settings.options)
        self._client.scene.set_background_image(image, format="jpeg", jpeg_quality=90)
        self._last_key = key
        self._last_error = ""
        self.frames += 1


def solid_image(rgb: tuple[float, float, float]) -> np.ndarray:
    """A tiny uniform image used as the browser background in client mode."""
    color = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5
    return np.broadcast_to(color.astype(np.uint8), (4, 4, 3)).copy()
