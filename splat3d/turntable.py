"""Turntable renders of a Gaussian scene: orbit cameras, a tiled PNG grid, a GIF and an MP4.

``V`` cameras on a circle around ``center`` at one elevation, evenly spaced in azimuth and all
looking at the centre, rendered with :func:`splat3d.rasterize.rasterize`. The images are tiled
into one PNG (row-major, ``columns`` per row) and played as a looping GIF (Pillow). An MP4 is
written (H.264) through ``imageio-ffmpeg``'s bundled ffmpeg when that package is installed; when
it is not, the MP4 is skipped and the returned :class:`TurntableFiles` says why. Every file is
written atomically (:func:`splat3d.fileio.atomic_path`).

Example:
    >>> g = Gaussians.random_sphere(500, radius=0.6, opacity=0.8)
    >>> config = TurntableConfig(views=8, size=64)
    >>> images = render_turntable(g, config)
    >>> images.shape
    torch.Size([8, 64, 64, 3])
    >>> files = save_turntable(images, "out", config)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.fileio import atomic_path, save_png, to_uint8
from splat3d.gaussians import Gaussians
from splat3d.rasterize import Backend, rasterize
from splat3d.safepath import child_path

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class TurntableConfig:
    """Where the turntable cameras are and how the results are laid out."""

    views: int = 8
    """Number of cameras (frames), evenly spaced in azimuth."""
    radius: float = 3.0
    """Distance of every camera from ``center``."""
    elevation_deg: float = 20.0
    """Angle of the orbit above the plane perpendicular to ``up`` (strictly within +-90)."""
    start_azimuth_deg: float = 0.0
    """Azimuth of the first camera; azimuth 0 lies along the first horizontal axis (world +x for
    ``up = +z``) and grows counter-clockwise seen from above."""
    fov_deg: float = 43.0
    """Horizontal (and, with square pixels, vertical) field of view."""
    size: int = 128
    """Width and height of each image in pixels."""
    center: Vec3 = (0.0, 0.0, 0.0)
    """The point the cameras orbit and look at."""
    up: Vec3 = (0.0, 0.0, 1.0)
    """World direction of the orbit axis; it appears up in the images."""
    background: Vec3 = (1.0, 1.0, 1.0)
    """Colour behind the scene and in unused cells of the grid."""
    columns: int | None = None
    """Images per row of the PNG grid; ``None``: ``ceil(sqrt(views))``."""
    fps: float = 8.0
    """Frames per second of the GIF and MP4."""

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ValueError(f"TurntableConfig.views must be >= 1, got {self.views}")
        if not self.radius > 0:
            raise ValueError(f"TurntableConfig.radius must be > 0, got {self.radius}")
        if not abs(self.elevation_deg) < 90:
            raise ValueError("TurntableConfig.elevation_deg must lie strictly between -90 and "
                             f"90, got {self.elevation_deg}")
        if not 0 < self.fov_deg < 180:
            raise ValueError(f"TurntableConfig.fov_deg must be in (0, 180), got {self.fov_deg}")
        if self.size < 1:
            raise ValueError(f"TurntableConfig.size must be >= 1, got {self.size}")
        if self.columns is not None and self.columns < 1:
            raise ValueError(f"TurntableConfig.columns must be >= 1, got {self.columns}")
        if not self.fps > 0:
            raise ValueError(f"TurntableConfig.fps must be > 0, got {self.fps}")
        if float(np.linalg.norm(self.up)) == 0.0:
            raise ValueError("TurntableConfig.up must be a non-zero vector")


@dataclass(frozen=True)
class TurntableFiles:
    """What :func:`save_turntable` wrote."""

    grid: Path
    """The PNG grid of all views."""
    gif: Path
    """The looping GIF."""
    mp4: Path | None
    """The MP4, or ``None`` when it was skipped."""
    mp4_skipped: str | None
    """Why the MP4 was skipped (``None`` when it was written)."""

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready record (paths as strings)."""
        return {"grid": str(self.grid), "gif": str(self.gif),
                "mp4": None if self.mp4 is None else str(self.mp4),
                "mp4_skipped": self.mp4_skipped}


def orbit_cameras(config: TurntableConfig) -> Cameras:
    """The ``config.views`` orbit cameras, in azimuth order."""
    up = torch.tensor(config.up, dtype=torch.float64)
    up = up / up.norm()
    # A horizontal basis (e1, e2) with e1 x e2 = up; for up = +z it is (+x, +y).
    ref = torch.tensor([1.0, 0.0, 0.0] if abs(float(up[0])) < 0.9 else [0.0, 1.0, 0.0],
                       dtype=torch.float64)
    e2 = torch.linalg.cross(up, ref)
    e2 = e2 / e2.norm()
    e1 = torch.linalg.cross(e2, up)
    azimuth = math.radians(config.start_azimuth_deg) + torch.arange(
        config.views, dtype=torch.float64) * (2 * math.pi / config.views)
    elevation = math.radians(config.elevation_deg)
    direction = (math.cos(elevation) * (azimuth.cos()[:, None] * e1 + azimuth.sin()[:, None] * e2)
                 + math.sin(elevation) * up)  # [V, 3]
    center = torch.tensor(config.center, dtype=torch.float64)
    eye = center + config.radius * direction
    return Cameras.from_look_at(eye.float(), center.float().expand(config.views, 3),
                                fov_x=math.radians(config.fov_deg), width=config.size,
                                height=config.size, up=tuple(up.tolist()))


@torch.no_grad()
def render_turntable(
    gaussians: Gaussians, config: TurntableConfig = TurntableConfig(), *,
    backend: Backend = "auto",
) -> Float[Tensor, "V H W 3"]:
    """Render ``gaussians`` from the orbit cameras over ``config.background``, in [0, 1]."""
    g = gaussians.detach()
    cameras = orbit_cameras(config).to(g.device)
    background = torch.tensor(config.background, dtype=g.means.dtype, device=g.device)
    return rasterize(g, cameras, background=background, backend=backend).rgb.clamp(0.0, 1.0)


def tile_images(
    images: Float[Tensor, "V H W C"], columns: int | None = None, fill: float | Vec3 = 1.0
) -> Float[Tensor, "R C2 C"]:
    """Tile images row-major into ``ceil(V / columns)`` rows of ``columns``; unused cells get
    ``fill``. ``columns`` defaults to ``ceil(sqrt(V))``."""
    v, h, w, c = images.shape
    if v == 0:
        raise ValueError("tile_images: no images")
    cols = math.ceil(math.sqrt(v)) if columns is None else columns
    if cols < 1:
        raise ValueError(f"tile_images: columns must be >= 1, got {cols}")
    rows = math.ceil(v / cols)
    canvas = images.new_empty(rows * cols, h, w, c)
    canvas[:] = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    canvas[:v] = images
    # [rows, cols, H, W, C] -> [rows, H, cols, W, C]
    return canvas.reshape(rows, cols, h, w, c).permute(0, 2, 1, 3, 4).reshape(rows * h,
                                                                             cols * w, c)


def mp4_encoder_missing() -> str | None:
    """Why an MP4 cannot be written here (``None`` when imageio-ffmpeg is installed)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return "no MP4 encoder: imageio-ffmpeg is not installed (pip install imageio-ffmpeg)"
    return None


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio_ffmpeg

    # H.264 in yuv420p needs even sides: repeat the last row/column when a side is odd.
    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    writer = imageio_ffmpeg.write_frames(
        str(path), (w + w % 2, h + h % 2), fps=fps, codec="libx264", quality=8,
        macro_block_size=1, output_params=["-f", "mp4"], ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(np.pad(frame, pad, mode="edge")))
    writer.close()


def save_turntable(
    images: Float[Tensor, "V H W 3"], directory: str | os.PathLike,
    config: TurntableConfig = TurntableConfig(), *, stem: str = "turntable",
) -> TurntableFiles:
    """Write ``<stem>.png`` (grid), ``<stem>.gif`` and, when an encoder exists, ``<stem>.mp4``
    into ``directory``, each atomically (``stem`` is made safe: the files stay in ``directory``,
    :func:`splat3d.safepath.child_path`)."""
    grid = child_path(directory, stem, ".png")
    save_png(grid, tile_images(images, config.columns, config.background))
    frames = [to_uint8(img) for img in images]
    gif = child_path(directory, stem, ".gif")
    with atomic_path(gif) as tmp:
        first, *rest = (Image.fromarray(f) for f in frames)
        first.save(tmp, format="GIF", save_all=True, append_images=rest, loop=0,
                   duration=round(1000.0 / config.fps))
    skipped = mp4_encoder_missing()
    mp4 = None
    if skipped is None:
        mp4 = child_path(directory, stem, ".mp4")
        with atomic_path(mp4) as tmp:
            _write_mp4(tmp, frames, config.fps)
    return TurntableFiles(grid, gif, mp4, skipped)


def write_turntable(
    gaussians: Gaussians, directory: str | os.PathLike,
    config: TurntableConfig = TurntableConfig(), *, stem: str = "turntable",
    backend: Backend = "auto",
) -> TurntableFiles:
    """:func:`render_turntable` then :func:`save_turntable`."""
    return save_turntable(render_turntable(gaussians, config, backend=backend), directory,
                          config, stem=stem)
