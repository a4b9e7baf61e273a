"""The web viewer: a viser server showing one :class:`SceneState`, with its GUI and layers.

It talks to the rest of splat3d only through the scene state (what to show) and a render
callback (how to render a camera); it never imports the trainer. A trainer drives it with::

    viewer = Viewer(SceneState(gaussians))          # http://127.0.0.1:8080
    for step in range(steps):
        viewer.wait_while_paused()
        ...                                          # one optimisation step
        viewer.update(gaussians, step=step, metrics={"loss": loss, "psnr": psnr})

``update`` only publishes references; with no browser connected nothing else happens.

Only the viewer's own page may use it: :mod:`viewer.origin_guard` checks the ``Origin`` and
``Host`` (and, on request, a token) of every request, :mod:`viewer.gui` clamps every value a
browser sends, server-side renders are bounded by ``max_render_pixels``, and a pause ends
when the last browser leaves (nobody would be left to lift it).
"""

from __future__ import annotations

import ipaddress
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import viser
from jaxtyping import Float
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.fileio import save_png
from splat3d.gaussians import Gaussians
from viewer.camera_bridge import ViserPose, cameras_from_viser, render_size
from viewer.client_render import ClientRenderLoop, client_pose, solid_image
from viewer.config import LOOPBACK_HOSTS, LiveSettings, RenderOptions, ViewerConfig
from viewer.gui import ControlPanel, PanelActions
from viewer.layers import BoxLayer, CameraLayer, go_to_pose
from viewer.origin_guard import TOKEN_QUERY, AccessPolicy, guard_new_servers, normalise_origin
from viewer.scene_state import SceneSnapshot, SceneState
from viewer.server_render import RasterizeRenderer, RenderFn, render_image
from viewer.splats import splat_arrays

SPLAT_NODE = "/splats"


class RemoteAccessError(ValueError):
    """A non-loopback host was asked for without ``allow_remote``, or without a way
    (allowed origins or a token) to tell the viewer's own page from any other."""


def check_bind_address(config: ViewerConfig) -> None:
    """Refuse non-loopback hosts unless ``allow_remote`` with ``allowed_origins`` or
    ``require_token``; warn on stderr when allowed.

    Raises:
        RemoteAccessError: ``config.host`` is not a loopback address and
            ``config.allow_remote`` is False, or neither origins nor a token are required.
    """
    if is_loopback(config.host):
        return
    if not config.allow_remote:
        raise RemoteAccessError(
            f"viewer: host {config.host!r} would expose the scene to other machines; pass "
            f"--allow-remote to listen there, or use 127.0.0.1 (the default)")
    if not config.allowed_origins and not config.require_token:
        raise RemoteAccessError(
            f"viewer: --allow-remote on host {config.host!r} also needs --require-token (a "
            f"secret URL printed at start) or --allowed-origins ORIGIN ..., so that other "
            f"web pages cannot drive the viewer")
    who = "anyone with the printed URL (its token)" if config.require_token \
        else f"pages from {', '.join(config.allowed_origins)}"
    print(f"WARNING: splat3d viewer listening on {config.host}:{config.port}: {who} can "
          f"see the scene and drive the viewer from other machines.", file=sys.stderr)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Viewer:
    """A running viser server showing a scene; see the module docstring for training use.

    Args:
        scene: the scene state to show (or Gaussians, wrapped in a new state).
        config: how to serve and render.
        render_fn: server-side renderer for a camera; default ``splat3d.rasterize`` on the
            state's Gaussians.
    """

    def __init__(self, scene: SceneState | Gaussians, config: ViewerConfig | None = None,
                 render_fn: RenderFn | None = None) -> None:
        self.config = config if config is not None else ViewerConfig()
        check_bind_address(self.config)
        self.state = scene if isinstance(scene, SceneState) else SceneState(scene)
        self.render_fn: RenderFn = render_fn if render_fn is not None \
            else RasterizeRenderer(self.state)
        snapshot = self.state.snapshot()
        self._settings = LiveSettings(
            mode=self.config.mode,
            options=RenderOptions(sh_degree=snapshot.gaussians.sh_degree),
            render_resolution=self.config.render_resolution,
            preview_resolution=self.config.preview_resolution)
        self._lock = threading.Lock()
        # The sync thread replaces the splat node while a settings change may be showing or
        # hiding it: both go through this lock, so nobody touches a removed handle.
        self._splat_lock = threading.Lock()
        # Re-entrant: releasing the pause sets the checkbox, whose callback takes it again.
        self._pause_lock = threading.RLock()
        self._loops: dict[int, ClientRenderLoop] = {}
        self._splat_handle: viser.GaussianSplatHandle | None = None
        self._splat_version = -1
        self._stats_version = -1
        self._last_push = 0.0
        self._screenshots = 0
        self._camera_layer: CameraLayer | None = None

        # The secret in :attr:`url` when ``require_token`` is set.
        self.token = secrets.token_urlsafe(24) if self.config.require_token else None
        policy = AccessPolicy(tuple(normalise_origin(o) for o in self.config.allowed_origins),
                              self.token)
        with guard_new_servers(policy) as guarded:
            self.server = viser.ViserServer(host=self.config.host, port=self.config.port,
                                            label=self.config.label,
                                            verbose=self.config.verbose)
        if not guarded:
            self.server.stop()
            raise RuntimeError(f"viewer: viser {viser.__version__} did not start its server "
                               f"through websockets.asyncio.server.serve, so the Origin/Host "
                               f"check could not be installed; refusing to serve")
        self.server.scene.set_up_direction(self.config.up_direction)
        # Splats carry their own colour; image-based lighting and shadows would only light the
        # wireframe layers, and cost seconds of shader work on software-rendering browsers.
        self.server.scene.configure_environment_map(hdri=None)
        self.server.scene.configure_default_lights(enabled=True, cast_shadow=False)
        self.panel = ControlPanel(
            self.server.gui, self._settings,
            PanelActions(settings_changed=self._apply_settings, screenshot=self._screenshot_for,
                         pause_changed=self._pause_changed, go_to_camera=self.go_to_camera,
                         cameras_visible=self._set_cameras_visible),
            max_sh_degree=max(snapshot.gaussians.sh_degree, 3),
            feature_count=0 if snapshot.features is None else snapshot.features.shape[1])
        self.boxes = BoxLayer(self.server.scene)
        self._aim_initial_camera(snapshot.gaussians)
        self._push_splats(snapshot)
        self.server.on_client_connect(self._on_connect)
        self.server.on_client_disconnect(self._on_disconnect)
        self._stop = threading.Event()
        self._sync = threading.Thread(target=self._sync_loop, daemon=True, name="splat3d-sync")
        self._sync.start()

    # ------------------------------------------------------------------ producer side
    def update(
        self,
        gaussians: Gaussians | None = None,
        *,
        step: int | None = None,
        metrics: Mapping[str, float] | None = None,
        features: Float[Tensor, "N F"] | None = None,
    ) -> None:
        """Publish new Gaussians / progress (see :meth:`SceneState.update`); microseconds."""
        self.state.update(gaussians, step=step, metrics=metrics, features=features)

    @property
    def paused(self) -> bool:
        """Whether a user ticked "Pause training"."""
        return self.state.paused

    def wait_while_paused(self, stop: Callable[[], bool] | None = None,
                          poll_seconds: float = 0.1) -> None:
        """Block while training is paused from the GUI (returns at once otherwise, and as
        soon as ``stop()`` is true, e.g. SIGTERM arrived while paused)."""
        while self.state.paused and not self._stop.is_set() and not (stop and stop()):
            time.sleep(poll_seconds)

    # ------------------------------------------------------------------ layers
    def add_boxes(
        self,
        centers: Float[np.ndarray, "K 3"] | Float[Tensor, "K 3"],
        sizes: Float[np.ndarray, "K 3"] | Float[Tensor, "K 3"],
        yaws: Float[np.ndarray, " K"] | Float[Tensor, " K"],
        labels: Sequence[str] | None = None,
        colors: Float[np.ndarray, "K 3"] | None = None,
        name: str = "boxes",
    ) -> None:
        """Draw labelled, yaw-oriented wireframe boxes as group ``name`` (replacing it).

        Boxes follow :mod:`detection.data.boxes`: geometric centres, full edge lengths, yaw
        counter-clockwise about +z. ``colors`` are RGB in [0,1] (or 0-255); default by label.
        """
        self.boxes.set_group(name, centers, sizes, yaws, labels, colors)

    def remove_boxes(self, name: str = "boxes") -> None:
        self.boxes.remove_group(name)

    def set_training_cameras(self, cameras: Cameras,
                             images: Float[Tensor, "C H W 3"] | None = None,
                             names: Sequence[str] | None = None) -> None:
        """Show training cameras as frustums (with thumbnails of ``images``); clicking one, or
        choosing it in the GUI and pressing "Go to camera", moves the browser there."""
        self._camera_layer = CameraLayer(self.server.scene, cameras, self.go_to_camera,
                                         images=images, names=names)
        self.panel.set_camera_names(self._camera_layer.names)
        first = self._camera_layer.poses[0]
        self.server.initial_camera.fov = first.fov_y
        self.server.initial_camera.position = first.position
        self.server.initial_camera.look_at = _point_ahead(first, self._scene_radius())

    def go_to_camera(self, client: viser.ClientHandle | None, index: int) -> None:
        """Move ``client``'s view (every browser's when None) to training camera ``index``."""
        if self._camera_layer is None:
            raise ValueError("go_to_camera: no training cameras were given to the viewer")
        pose = self._camera_layer.poses[index]
        for target in [client] if client is not None else self.server.get_clients().values():
            go_to_pose(target, pose)

    # ------------------------------------------------------------------ rendering
    @property
    def settings(self) -> LiveSettings:
        return self._settings

    def set_settings(self, settings: LiveSettings) -> None:
        """Apply render settings from code; the GUI widgets follow."""
        self.panel.show_settings(settings)
        self._apply_settings(settings)

    def render_view(self, pose: ViserPose, max_side: int | None = None) -> np.ndarray:
        """The 8-bit image server mode shows for a viser camera pose, at ``max_side`` pixels
        (default: the render resolution), and at most ``max_render_pixels`` pixels."""
        side = max_side if max_side is not None else self._settings.render_resolution
        width, height = render_size(pose.aspect, side, self.config.max_render_pixels)
        return render_image(self.render_fn, cameras_from_viser(pose, width, height),
                            self._settings.options)

    def save_screenshot(self, pose: ViserPose, path: Path | None = None) -> Path:
        """Render ``pose`` at the render resolution and save it as a PNG (atomically).

        ``path`` defaults to ``screenshot_dir/screenshot_NNNN.png``; returns the path written.
        """
        image = self.render_view(pose)
        if path is None:
            self._screenshots += 1
            path = self.config.screenshot_dir / f"screenshot_{self._screenshots:04d}.png"
            while path.exists():
                self._screenshots += 1
                path = self.config.screenshot_dir / f"screenshot_{self._screenshots:04d}.png"
        save_png(path, image.astype(np.float32) / 255.0)
        return Path(path)

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        """The port actually bound."""
        return self.server.get_port()

    @property
    def url(self) -> str:
        """The page's address (with ``/?token=...`` when a token is required)."""
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        query = f"/?{TOKEN_QUERY}={self.token}" if self.token is not None else ""
        return f"http://{host}:{self.port}{query}"

    @property
    def num_clients(self) -> int:
        return len(self.server.get_clients())

    def close(self) -> None:
        """Stop the threads and the server."""
        self._stop.set()
        with self._lock:
            for loop in self._loops.values():
                loop.stop()
            self._loops.clear()
        self.server.stop()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _on_connect(self, client: viser.ClientHandle) -> None:
        loop = ClientRenderLoop(client, self.render_fn, self.state, lambda: self._settings,
                                self.config.settle_seconds, self.config.poll_seconds,
                                self.config.max_render_pixels)
        with self._lock:
            self._loops[client.client_id] = loop
        client.camera.near = self._settings.options.near
        if self._settings.mode == "client":
            client.scene.set_background_image(solid_image(self._settings.options.background))
        loop.start()

    def _on_disconnect(self, client: viser.ClientHandle) -> None:
        with self._lock:
            loop = self._loops.pop(client.client_id, None)
        if loop is not None:
            loop.stop()
        with self._pause_lock:  # viser drops the client from get_clients() before this
            if not self.server.get_clients():
                self.panel.release_pause()

    def _pause_changed(self, paused: bool) -> None:
        # A pause needs a browser to lift it: one arriving after the last browser has gone
        # (callbacks run on a thread pool, so it can) is undone at once.
        with self._pause_lock:
            if paused and not self.server.get_clients():
                self.panel.release_pause()
                paused = False
            self.state.set_paused(paused)

    def _apply_settings(self, settings: LiveSettings) -> None:
        with self._splat_lock:
            old, self._settings = self._settings, settings
            if self._splat_handle is not None:
                self._splat_handle.visible = settings.mode == "client"
        clients = list(self.server.get_clients().values())
        if settings.options.near != old.options.near:
            for client in clients:
                client.camera.near = settings.options.near
        if settings.mode == "client" and (old.mode != "client"
                                          or settings.options.background
                                          != old.options.background):
            for client in clients:
                client.scene.set_background_image(solid_image(settings.options.background))

    def _screenshot_for(self, client: viser.ClientHandle | None) -> None:
        if client is None:
            return
        try:
            path = self.save_screenshot(client_pose(client.camera))
        except (OSError, ValueError) as err:
            self.panel.set_status(f"Screenshot failed: {err}")
            return
        self.panel.set_status(f"Saved `{path}`")

    def _set_cameras_visible(self, visible: bool) -> None:
        if self._camera_layer is not None:
            self._camera_layer.set_visible(visible)

    def _sync_loop(self) -> None:
        # Polls instead of being woken by update(), so the producer never pays for it.
        while not self._stop.wait(self.config.poll_seconds):
            try:
                self._sync_once()
            except Exception as err:  # keep live updates alive; the next version may be fine
                print(f"splat3d viewer: could not show scene version {self.state.version}: "
                      f"{type(err).__name__}: {err}", file=sys.stderr)
                self._splat_version = self.state.version

    def _sync_once(self) -> None:
        """Bring connected browsers up to date; with none connected, do nothing."""
        if not self.server.get_clients():
            return
        snapshot = self.state.snapshot()
        if snapshot.version != self._stats_version:
            self._stats_version = snapshot.version
            self.panel.show_stats(snapshot)
        due = time.monotonic() - self._last_push >= self.config.splat_push_seconds
        if self._settings.mode == "client" and snapshot.version != self._splat_version and due:
            self._push_splats(snapshot)

    def _push_splats(self, snapshot: SceneSnapshot) -> None:
        self._splat_version = snapshot.version
        self._last_push = time.monotonic()
        arrays = splat_arrays(snapshot.gaussians) if len(snapshot.gaussians) else None
        with self._splat_lock:
            if arrays is None:
                if self._splat_handle is not None:
                    self._splat_handle.remove()
                    self._splat_handle = None
                return
            self._splat_handle = self.server.scene.add_gaussian_splats(
                SPLAT_NODE, centers=arrays.centers, covariances=arrays.covariances,
                rgbs=arrays.rgbs, opacities=arrays.opacities,
                visible=self._settings.mode == "client")

    def _scene_radius(self) -> float:
        means = self.state.snapshot().gaussians.means.detach().float().cpu()
        if len(means) == 0:
            return 1.0
        distance = (means - means.median(0).values).norm(dim=-1)
        return max(float(torch.quantile(distance[:100_000], 0.9)), 1e-3)

    def _aim_initial_camera(self, gaussians: Gaussians) -> None:
        if len(gaussians) == 0:
            return
        center = gaussians.means.detach().float().cpu().median(0).values.numpy()
        radius = self._scene_radius()
        up = np.array(_AXES[self.config.up_direction])
        # Look down on the scene from 3 radii away, 30 degrees above the horizon.
        side = np.roll(np.abs(up), 1)
        offset = np.cos(np.pi / 6) * side + np.sin(np.pi / 6) * up
        self.server.initial_camera.position = center + 3.0 * radius * offset
        self.server.initial_camera.look_at = center


_AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0),
         "+z": (0, 0, 1), "-z": (0, 0, -1)}


def _point_ahead(pose: ViserPose, distance: float) -> np.ndarray:
    return np.asarray(pose.position) + distance * pose.rotation[:, 2]
