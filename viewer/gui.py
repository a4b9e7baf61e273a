"""The viewer's control panel: GUI elements and what they report back.

The panel owns no behaviour: every change becomes a new :class:`LiveSettings` (or a call to
one of the callbacks in :class:`PanelActions`); the viewer decides what that means.

A browser can send any value for any widget over the websocket, whatever the widget's
``min``, ``max`` or options say (it can even change those), so every value is clamped
here against the ranges this panel was built with (:func:`clamp_int`, :func:`clamp_float`,
:func:`choose`, :func:`clamp_rgb`), and a widget holding a clamped value is set back to it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import viser

from viewer.config import DisplayOutput, LiveSettings, RenderMode, RenderOptions
from viewer.scene_state import SceneSnapshot

MODES: tuple[RenderMode, ...] = ("client", "server")
NEAR_RANGE = (1e-4, 1e3)
"""Near-plane distances the panel accepts."""
RESOLUTION_RANGE = (64, 2048)
"""Render resolutions the "Resolution" slider offers (widened to a configured value)."""
PREVIEW_RANGE = (32, 1024)
"""Render resolutions the "Moving resolution" slider offers (widened likewise)."""

Choice = TypeVar("Choice")


@dataclass(frozen=True)
class PanelActions:
    """Callbacks the panel invokes; each gets the browser that asked (None if unknown)."""

    settings_changed: Callable[[LiveSettings], None]
    """Any render setting changed."""
    screenshot: Callable[[viser.ClientHandle | None], None]
    """The screenshot button was pressed."""
    pause_changed: Callable[[bool], None]
    """The pause checkbox changed."""
    go_to_camera: Callable[[viser.ClientHandle | None, int], None]
    """"Go to camera" was pressed with the chosen training-camera index."""
    cameras_visible: Callable[[bool], None]
    """The "show training cameras" checkbox changed."""


class ControlPanel:
    """Render, training, camera and screenshot controls in viser's side panel."""

    def __init__(
        self,
        gui: viser.GuiApi,
        settings: LiveSettings,
        actions: PanelActions,
        max_sh_degree: int,
        feature_count: int = 0,
        camera_names: Sequence[str] = (),
    ) -> None:
        self._settings = settings
        self._actions = actions
        # The ranges the browser's values are clamped to; never read back from the widgets,
        # whose min/max/options a browser can change.
        self._outputs: tuple[DisplayOutput, ...] = ("rgb", "depth", "alpha") + (
            ("features",) if feature_count else ())
        self._max_feature = max(feature_count - 1, 0)
        self._max_sh_degree = max_sh_degree
        self._resolution_range = _widened(RESOLUTION_RANGE, settings.render_resolution)
        self._preview_range = _widened(PREVIEW_RANGE, settings.preview_resolution)
        # Widget callbacks run on viser's thread pool, and setting a widget from code calls
        # them again on the same thread: one re-entrant lock orders all of it.
        self._lock = threading.RLock()
        self._showing = False
        opts = settings.options
        with gui.add_folder("Render"):
            self.mode = gui.add_dropdown("Mode", MODES, initial_value=settings.mode,
                                         hint="client: browser draws splats (DC colour); "
                                              "server: exact splat3d render of your view")
            self.output = gui.add_dropdown("Output (server)", self._outputs,
                                           initial_value=opts.output)
            self.feature_channel = gui.add_slider(
                "Feature channel", 0, self._max_feature, 1,
                min(opts.feature_channel, self._max_feature), visible=feature_count > 0)
            self.sh_degree = gui.add_slider("SH degree (server)", 0, max_sh_degree, 1,
                                            min(opts.sh_degree, max_sh_degree))
            self.background = gui.add_rgb("Background", tuple(
                round(255 * c) for c in opts.background))
            self.near = gui.add_number("Near plane", opts.near, min=NEAR_RANGE[0],
                                       max=NEAR_RANGE[1], step=1e-3)
            self.resolution = gui.add_slider("Resolution", *self._resolution_range, 16,
                                             settings.render_resolution)
            self.preview = gui.add_slider("Moving resolution", *self._preview_range, 16,
                                          settings.preview_resolution)
        with gui.add_folder("Training"):
            self.stats = gui.add_markdown(format_stats(None))
            self.pause = gui.add_checkbox("Pause training", False)
        with gui.add_folder("Cameras", visible=bool(camera_names)) as self._camera_folder:
            self.camera = gui.add_dropdown("Training camera", tuple(camera_names) or ("none",))
            self.go_to = gui.add_button("Go to camera")
            self.show_cameras = gui.add_checkbox("Show training cameras", True)
        self.screenshot = gui.add_button("Save screenshot", hint="exact server-side render "
                                         "of your view at 'Resolution', saved as PNG")
        self.status = gui.add_markdown("")

        self._setting_widgets = (self.mode, self.output, self.feature_channel, self.sh_degree,
                                 self.background, self.near, self.resolution, self.preview)
        for handle in self._setting_widgets:
            handle.on_update(lambda _event: self._settings_from_gui())
        self.pause.on_update(lambda _event: actions.pause_changed(bool(self.pause.value)))
        self.show_cameras.on_update(
            lambda _event: actions.cameras_visible(bool(self.show_cameras.value)))
        self._camera_names = list(camera_names)
        self.go_to.on_click(lambda event: self._go_to_chosen_camera(event.client))
        self.screenshot.on_click(lambda event: actions.screenshot(event.client))

    @property
    def settings(self) -> LiveSettings:
        return self._settings

    def show_settings(self, settings: LiveSettings) -> None:
        """Make the widgets show ``settings`` (set from code rather than the GUI) without
        reporting them back as a change."""
        with self._lock:
            self._settings = settings
            self._show(widget_values(settings))

    def _show(self, values: Sequence[object], skip: Sequence[object] | None = None) -> None:
        # Set each setting widget (in ``_setting_widgets`` order) to its value, except where
        # it equals ``skip``'s: a widget left alone keeps a newer value a browser may have
        # sent meanwhile, which its own callback will report.
        self._showing = True  # the widgets' callbacks would report each value as a change
        try:
            for i, (handle, value) in enumerate(zip(self._setting_widgets, values, strict=True)):
                if skip is None or value != skip[i]:
                    handle.value = value
        finally:
            self._showing = False

    def release_pause(self) -> None:
        """Untick "Pause training" (its callback tells the viewer to resume)."""
        self.pause.value = False

    def show_stats(self, snapshot: SceneSnapshot) -> None:
        self.stats.content = format_stats(snapshot)

    def set_camera_names(self, names: Sequence[str]) -> None:
        """Offer these training cameras (an empty list hides the folder)."""
        self._camera_names = list(names)
        if names:
            self.camera.options = tuple(names)
            self.camera.value = names[0]
        self._camera_folder.visible = bool(names)

    def set_status(self, text: str) -> None:
        self.status.content = text

    def _go_to_chosen_camera(self, client: viser.ClientHandle | None) -> None:
        if self.camera.value in self._camera_names:
            self._actions.go_to_camera(client, self._camera_names.index(self.camera.value))

    def _settings_from_gui(self) -> None:
        """A widget changed: read every widget, clamped to this panel's ranges; show the
        clamped values in the browsers; report the new settings."""
        with self._lock:
            if self._showing:
                return
            raw = [handle.value for handle in self._setting_widgets]
            mode, output, feature_channel, sh_degree, background, near, resolution, preview = raw
            old, opts = self._settings, self._settings.options
            options = RenderOptions(
                sh_degree=clamp_int(sh_degree, 0, self._max_sh_degree, opts.sh_degree),
                background=clamp_rgb(background, opts.background),
                near=clamp_float(near, *NEAR_RANGE, opts.near),
                output=choose(output, self._outputs, opts.output),
                feature_channel=clamp_int(feature_channel, 0, self._max_feature,
                                          opts.feature_channel),
            )
            self._settings = dataclasses.replace(
                old, mode=choose(mode, MODES, old.mode), options=options,
                render_resolution=clamp_int(resolution, *self._resolution_range,
                                            old.render_resolution),
                preview_resolution=clamp_int(preview, *self._preview_range,
                                             old.preview_resolution))
            self._show(widget_values(self._settings), skip=raw)
            self._actions.settings_changed(self._settings)


def widget_values(settings: LiveSettings) -> tuple[object, ...]:
    """What the setting widgets show for ``settings``, in ``ControlPanel._setting_widgets``
    order (mode, output, feature channel, SH degree, 8-bit background, near plane,
    resolution, moving resolution)."""
    opts = settings.options
    return (settings.mode, opts.output, opts.feature_channel, opts.sh_degree,
            tuple(round(255 * c) for c in opts.background), opts.near,
            settings.render_resolution, settings.preview_resolution)


def clamp_int(value: object, low: int, high: int, fallback: int) -> int:
    """``value`` as an int in ``[low, high]``; ``fallback`` if it is not a finite number."""
    number = clamp_float(value, low, high, math.nan)
    return fallback if math.isnan(number) else int(round(number))


def clamp_float(value: object, low: float, high: float, fallback: float) -> float:
    """``value`` as a float in ``[low, high]``; ``fallback`` if it is not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return fallback
    return min(max(number, low), high) if math.isfinite(number) else fallback


def choose(value: object, options: Sequence[Choice], fallback: Choice) -> Choice:
    """``value`` if it is one of ``options``, else ``fallback``."""
    return next((option for option in options if option == value), fallback)


def clamp_rgb(value: object, fallback: tuple[float, float, float]) -> tuple[float, float, float]:
    """An 8-bit RGB triple (as the colour widget holds it) as floats in [0, 1], each
    channel clamped to 0..255; ``fallback`` unless it is a sequence of three numbers."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        return fallback
    channels = [clamp_int(c, 0, 255, -1) for c in value]
    if min(channels) < 0:
        return fallback
    return (channels[0] / 255.0, channels[1] / 255.0, channels[2] / 255.0)


def _widened(limits: tuple[int, int], value: int) -> tuple[int, int]:
    # Widen a slider's range for a configured value outside it rather than refusing it.
    return min(limits[0], value), max(limits[1], value)


def format_stats(snapshot: SceneSnapshot | None) -> str:
    """Markdown lines: step, loss, PSNR and Gaussian count (``-`` where unknown)."""
    if snapshot is None:
        return "Gaussians: -"

    def number(value: float, spec: str) -> str:
        return "-" if math.isnan(value) else format(value, spec)

    lines = [f"Gaussians: {snapshot.num_gaussians:,}"]
    if snapshot.step is not None:
        lines.insert(0, f"Step: {snapshot.step:,}")
        lines.append(f"Loss: {number(snapshot.loss, '.4f')}")
        lines.append(f"PSNR: {number(snapshot.psnr, '.2f')} dB")
    return "  \n".join(lines)
