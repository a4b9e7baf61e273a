"""viewer: interactive web viewer for splat3d scenes (built on viser).

Two render modes: the browser draws the Gaussians itself (viser's splat node), or splat3d's
rasterizer renders each browser's view exactly and sends it as an image. The viewer reads a
:class:`SceneState` and calls a render callback; it never imports the trainer.

Example:
    >>> from viewer import Viewer, ViewerConfig                      # doctest: +SKIP
    >>> viewer = Viewer(Gaussians.random_sphere(10_000), ViewerConfig(port=8080))
    >>> viewer.update(new_gaussians, step=100, metrics={"loss": 0.02})
"""

try:
    import viser  # noqa: F401
except ImportError as err:  # a clear message for the optional dependency
    raise ImportError("the splat3d viewer needs viser: pip install 'splat3d[viewer]'") from err

from viewer.camera_bridge import ViserPose, cameras_from_viser, viser_pose_from_cameras
from viewer.config import LiveSettings, RenderOptions, ViewerConfig
from viewer.scene_state import SceneSnapshot, SceneState
from viewer.server_render import RasterizeRenderer, RenderFn, RenderResult
from viewer.web_viewer import RemoteAccessError, Viewer

__all__ = [
    "LiveSettings", "RasterizeRenderer", "RemoteAccessError", "RenderFn", "RenderOptions",
    "RenderResult", "SceneSnapshot", "SceneState", "Viewer", "ViewerConfig", "ViserPose",
    "cameras_from_viser", "viser_pose_from_cameras",
]
