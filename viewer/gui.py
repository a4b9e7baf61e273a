"""The viewer's control panel: GUI elements and what they report back.

The panel owns no behaviour: every change becomes a new :class:`LiveSettings` (or a call to
one of the callbacks in :class:`PanelActions`); the viewer decides what that means.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import viser

from viewer.config import DisplayOutput, LiveSettings, RenderOptions
from viewer.scene_state import SceneSnapshot


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
        opts = settings.options
        with gui.add_folder("Render"):
            self.mode = gui.add_dropdown("Mode", ("client", "server"), initial_value=settings.mode,
                                         hint="client: browser draws splats (DC colour); "
                                              "server: exact splat3d render of your view")
            outputs: tuple[DisplayOutput, ...] = ("rgb", "depth", "alpha")
            if feature_count:
                outputs += ("features",)
            self.output = gui.add_dropdown("Output (server)", outputs, initial_value=opts.output)
            self.feature_channel = gui.add_slider(
                "Feature channel", 0, max(feature_count - 1, 0), 1,
                min(opts.feature_channel, max(feature_count - 1, 0)),
                visible=feature_count > 0)
            self.sh_degree = gui.add_slider("SH degree (server)", 0, max_sh_degree, 1,
                                            min(opts.sh_degree, max_sh_degree))
            self.background = gui.add_rgb("Background", tuple(
                round(255 * c) for c in opts.background))
            self.near = gui.add_number("Near plane", opts.near, min=1e-4, step=1e-3)
            self.resolution = _size_slider(gui, "Resolution", 64, 2048,
                                           settings.render_resolution)
            self.preview = _size_slider(gui, "Moving resolution", 32, 1024,
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

        for handle in (self.mode, self.output, self.feature_channel, self.sh_degree,
                       self.background, self.near, self.resolution, self.preview):
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
        """Make the widgets show ``settings`` (set from code rather than the GUI)."""
        self._settings = settings
        opts = settings.options
        values = ((self.mode, settings.mode), (self.output, opts.output),
                  (self.feature_channel, opts.feature_channel), (self.sh_degree, opts.sh_degree),
                  (self.background, tuple(round(255 * c) for c in opts.background)),
                  (self.near, opts.near), (self.resolution, settings.render_resolution),
                  (self.preview, settings.preview_resolution))
        for handle, value in values:
            handle.value = value

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
        options = RenderOptions(
            sh_degree=int(self.sh_degree.value),
            background=tuple(c / 255.0 for c in self.background.value),
            near=max(float(self.near.value), 1e-4),
            output=self.output.value,
            feature_channel=int(self.feature_channel.value),
        )
        self._settings = dataclasses.replace(
            self._settings, mode=self.mode.value, options=options,
            render_resolution=int(self.resolution.value),
            preview_resolution=int(self.preview.value))
        self._actions.settings_changed(self._settings)


def _size_slider(gui: viser.GuiApi, label: str, low: int, high: int,
                 value: int) -> viser.GuiSliderHandle[int]:
    # Widen the range for configured values outside it rather than refusing them.
    return gui.add_slider(label, min(low, value), max(high, value), 16, value)


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
