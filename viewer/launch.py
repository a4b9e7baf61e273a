"""Opening a PLY file or a training run folder in the viewer (what ``splat3d view`` runs).

A run folder's Gaussians come from its ``point_cloud.ply`` (finished run) or newest
checkpoint; its training cameras and thumbnails come from the dataset named in its
``config.json`` when that dataset can still be read. Loading goes through the public
run-folder functions of :mod:`splat3d.train.run_dir`, never through the trainer itself.
Box files (detections, ground truth) are drawn on top by :mod:`viewer.boxes`.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro
from jaxtyping import Float
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians
from viewer.config import RenderMode, UpDirection, ViewerConfig
from viewer.web_viewer import Viewer


@dataclass(frozen=True)
class LoadedScene:
    """What a path gives the viewer."""

    gaussians: Gaussians
    """The Gaussians to show."""
    cameras: Cameras | None = None
    """Training cameras, when known."""
    images: Float[Tensor, "C H W 3"] | None = None
    """Training images (thumbnails on the frustums), when known."""
    names: list[str] | None = None
    """Training image names."""


def load_scene(path: Path) -> LoadedScene:
    """Read a 3DGS ``.ply`` file or a splat3d training run folder.

    Raises:
        FileNotFoundError: ``path`` does not exist, or is a folder that is not a run.
    """
    path = Path(path)
    if path.is_file():
        from splat3d.io import load_ply

        return LoadedScene(load_ply(path))
    if not path.is_dir():
        raise FileNotFoundError(f"view: {path} does not exist")
    from splat3d.train import run_dir

    if not (path / run_dir.CONFIG_FILE).is_file():
        raise FileNotFoundError(f"view: {path} is a folder without {run_dir.CONFIG_FILE}; "
                                f"pass a .ply file or a splat3d training run folder")
    ply = path / run_dir.PLY_FILE
    if ply.is_file():
        from splat3d.io import load_ply

        gaussians = load_ply(ply)
    else:
        gaussians = run_dir.load_run_gaussians(path)
    try:
        data = run_dir.load_data(run_dir.load_config(path))
    except (ImportError, OSError, ValueError, KeyError) as err:
        warnings.warn(f"view: showing {path} without its training cameras ({err})",
                      stacklevel=2)
        return LoadedScene(gaussians)
    return LoadedScene(gaussians, data.cameras, data.images, list(data.names))


def serve(path: Path, config: ViewerConfig, boxes: Sequence[Path] = (),
          box_dataset: str = "scannet", min_score: float = 0.0) -> Viewer:
    """Start a viewer for the scene at ``path`` and return it (non-blocking).

    ``boxes`` are box files (:func:`viewer.boxes.read_box_file`): each becomes its own box
    group, predictions orange with scores, ground truth green. A bad box file is an error
    before the server starts.
    """
    from viewer.boxes import read_box_file

    for box_path in boxes:  # validate every file before binding a port
        read_box_file(box_path, box_dataset)
    scene = load_scene(path)
    viewer = Viewer(scene.gaussians, config)
    try:
        if scene.cameras is not None and len(scene.cameras):
            viewer.set_training_cameras(scene.cameras, scene.images, scene.names)
        if boxes:
            from viewer.boxes import show_scene_boxes

            for box_path in boxes:
                show_scene_boxes(viewer, box_path, box_dataset, min_score=min_score)
    except BaseException:
        viewer.close()
        raise
    return viewer


def view(
    path: Annotated[Path, tyro.conf.Positional],
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_remote: bool = False,
    allowed_origins: tuple[str, ...] = (),
    require_token: bool = False,
    mode: RenderMode = "client",
    render_resolution: int = 512,
    up_direction: UpDirection = "+z",
    screenshot_dir: Path = Path("screenshots"),
    boxes: tuple[Path, ...] = (),
    box_dataset: Literal["scannet", "arkitscenes"] = "scannet",
    min_score: float = 0.0,
) -> None:
    """Open a 3DGS PLY file or a training run folder in the web viewer (Ctrl-C stops it).

    Args:
        path: a .ply file or a splat3d run folder.
        host: interface to listen on; anything but loopback needs --allow-remote.
        port: port to serve on (0: any free port; if taken, the next free one is used).
        allow_remote: permit a non-loopback host (the scene becomes visible to the network);
            needs --allowed-origins or --require-token.
        allowed_origins: origins (scheme://host[:port]) whose pages may use the viewer,
            besides http://127.0.0.1:PORT, http://localhost:PORT and http://[::1]:PORT.
        require_token: require a random token, printed at start in the viewer's URL.
        mode: 'client' (browser draws splats) or 'server' (exact splat3d renders).
        render_resolution: longest side of server-side renders, in pixels.
        up_direction: world axis shown as up.
        screenshot_dir: folder the screenshot button writes into.
        boxes: box files to draw: JSON scene files (predictions with scores, or ground
            truth), ARKitScenes *_3dod_annotation.json, ScanNet *_bbox.npy.
        box_dataset: the dataset whose class names the box labels use.
        min_score: predicted boxes scoring below this are not drawn.
    """
    if not 0 <= min_score <= 1:
        raise ValueError(f"--min-score {min_score}: expected a score in [0, 1]")
    config = ViewerConfig(host=host, port=port, allow_remote=allow_remote,
                          allowed_origins=allowed_origins, require_token=require_token, mode=mode,
                          render_resolution=render_resolution, up_direction=up_direction,
                          screenshot_dir=screenshot_dir)
    viewer = serve(path, config, boxes, box_dataset, min_score)
    shown = f", {len(boxes)} box file(s)" if boxes else ""
    print(f"splat3d viewer: {viewer.url} ({len(viewer.state.snapshot().gaussians):,} "
          f"Gaussians from {path}{shown})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("splat3d viewer: stopped", file=sys.stderr)
    finally:
        viewer.close()


if __name__ == "__main__":
    tyro.cli(view)
