"""Serve splat3d's procedural demo scene in three viewers, the way a training script would.

Used as a subprocess by the browser tests (and so to make ``docs/viewer_screenshot.png``):

* ``scene``: the scene in client mode (the browser draws the splats);
* ``empty``: no Gaussians, same cameras and boxes (the pixel-statistics baseline);
* ``server``: the scene in server mode (splat3d renders each browser's view).

Prints one JSON line ``{"scene": URL, "empty": URL, "server": URL}`` once all three serve,
then runs until killed::

    python tests/viewer/serve_scene.py [--screenshot-dir DIR]
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import tyro
from torch import Tensor

from splat3d import Cameras, Gaussians, rasterize
from splat3d.demo import SCENE_CENTER, build_scene, ring_cameras
from viewer import SceneState, Viewer, ViewerConfig
from viewer.config import RenderMode

EYE = (3.6 * math.cos(-3 * math.pi / 8), 3.6 * math.sin(-3 * math.pi / 8), 2.3)
"""Where browsers start: between two training cameras, a little above and behind their ring."""

BOXES = {  # the demo objects' bounding boxes, as a detector would report them
    "sphere": ((-0.55, 0.25, 0.35), (0.7, 0.7, 0.7), 0.0),
    "cube": ((0.55, 0.3, 0.25), (0.56, 0.56, 0.56), 0.0),
    "torus": ((0.0, -0.6, 0.1), (0.85, 0.85, 0.24), math.pi / 4),
}


def start_viewer(gaussians: Gaussians, mode: RenderMode, cameras: Cameras, thumbs: Tensor,
                 screenshot_dir: Path) -> Viewer:
    viewer = Viewer(SceneState(gaussians), ViewerConfig(
        port=0, mode=mode, render_resolution=384, preview_resolution=128,
        screenshot_dir=screenshot_dir))
    viewer.set_training_cameras(cameras, thumbs, [f"train_{i:03d}" for i in range(8)])
    viewer.server.initial_camera.position = EYE
    viewer.server.initial_camera.look_at = SCENE_CENTER
    viewer.add_boxes(centers=[c for c, _, _ in BOXES.values()],
                     sizes=[s for _, s, _ in BOXES.values()],
                     yaws=[y for _, _, y in BOXES.values()], labels=list(BOXES))
    viewer.update(step=0, metrics={"loss": math.nan, "psnr": math.nan})
    return viewer


def main(screenshot_dir: Path = Path("screenshots")) -> None:
    """Serve the three viewers; the screenshot buttons write into ``screenshot_dir``."""
    scene = build_scene()
    cameras = ring_cameras(8, 48)  # small: thumbnails only, and quick on a busy CPU
    with torch.no_grad():
        thumbs = rasterize(scene, cameras, background=torch.ones(3)).rgb
    viewers = {"scene": start_viewer(scene, "client", cameras, thumbs, screenshot_dir),
               "empty": start_viewer(Gaussians.empty(0), "client", cameras, thumbs,
                                     screenshot_dir / "empty"),
               "server": start_viewer(scene, "server", cameras, thumbs,
                                      screenshot_dir / "server")}
    print(json.dumps({name: v.url for name, v in viewers.items()}), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    tyro.cli(main)
