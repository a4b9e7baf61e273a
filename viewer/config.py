"""Settings of the web viewer: how it is served and how it renders, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from viewer.origin_guard import normalise_origin

RenderMode = Literal["client", "server"]
"""``client``: the browser draws the splats (viser's splat node, DC colour only);
``server``: splat3d's rasterizer renders each browser's view and sends it as an image."""

DisplayOutput = Literal["rgb", "depth", "alpha", "features"]
"""Which rendered quantity a server-side view shows."""

UpDirection = Literal["+x", "+y", "+z", "-x", "-y", "-z"]
"""World axis shown as up in the browser."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Hosts that only accept connections from this machine."""


@dataclass(frozen=True)
class ViewerConfig:
    """How the viewer is served and how its server-side renders adapt to camera motion."""

    host: str = "127.0.0.1"
    """Interface to listen on. Anything but a loopback address needs ``allow_remote``."""
    port: int = 8080
    """TCP port of the web page and its websocket; 0 lets the system pick a free one
    (read it back from :attr:`viewer.Viewer.port`). If the port is taken, viser tries the
    next ones."""
    allow_remote: bool = False
    """Permit a non-loopback ``host`` (e.g. ``0.0.0.0``); it also needs ``allowed_origins``
    or ``require_token``, so that only the viewer's own page can use it. A warning is
    printed when it is used."""
    allowed_origins: tuple[str, ...] = ()
    """Web origins (``scheme://host[:port]``) whose pages may load the viewer and open its
    websocket, besides ``http://127.0.0.1:PORT``, ``http://localhost:PORT`` and
    ``http://[::1]:PORT`` (e.g. the address of a reverse proxy in front of it)."""
    require_token: bool = False
    """Make every page load and websocket present a random token, printed at start in the
    viewer's URL (``/?token=...``); the page then keeps it in a cookie."""
    mode: RenderMode = "client"
    """Render mode a new session starts in; switchable in the GUI."""
    render_resolution: int = 512
    """Longest image side (pixels) of a server-side render once the camera has stopped."""
    preview_resolution: int = 192
    """Longest image side of server-side renders while the camera moves."""
    max_render_pixels: int = 2048 * 2048
    """Most pixels (width x height) of one server-side render or screenshot, whatever the
    resolution asked for; bounds the memory a render takes."""
    settle_seconds: float = 0.25
    """How long the camera must be still before the full-resolution render."""
    splat_push_seconds: float = 2.0
    """Least time between two uploads of changed Gaussians to the browsers (live training)."""
    poll_seconds: float = 0.1
    """How often the background threads look for camera, scene and setting changes."""
    screenshot_dir: Path = Path("screenshots")
    """Folder the screenshot button writes PNGs into."""
    label: str = "splat3d"
    """Title shown above the GUI panel."""
    verbose: bool = False
    """Let viser print its own banner and connection log."""
    up_direction: UpDirection = "+z"
    """World axis that points up in the browser's orbit controls (COLMAP scenes: often -y)."""

    def __post_init__(self) -> None:
        for name in ("render_resolution", "preview_resolution"):
            if getattr(self, name) < 8:
                raise ValueError(f"ViewerConfig.{name} must be >= 8 pixels, "
                                 f"got {getattr(self, name)}")
        if self.mode not in ("client", "server"):
            raise ValueError(f"ViewerConfig.mode must be 'client' or 'server', got {self.mode!r}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"ViewerConfig.port must be in 0..65535, got {self.port}")
        if self.max_render_pixels < 64:
            raise ValueError(f"ViewerConfig.max_render_pixels must be >= 64, "
                             f"got {self.max_render_pixels}")
        for origin in self.allowed_origins:
            normalise_origin(origin)


@dataclass(frozen=True)
class RenderOptions:
    """What a server-side render callback is asked to produce, besides the camera."""

    sh_degree: int = 3
    """Spherical-harmonics degree to evaluate (clamped to what the Gaussians have)."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """RGB in [0, 1] behind the Gaussians."""
    near: float = 0.01
    """Near-plane distance; Gaussians closer to the camera are culled."""
    output: DisplayOutput = "rgb"
    """Quantity shown: colour, expected depth, accumulated opacity or feature channels."""
    feature_channel: int = 0
    """First of the three feature channels shown as RGB when ``output == "features"``."""


@dataclass(frozen=True)
class LiveSettings:
    """What the GUI controls; replaced as a whole on every change, so threads read it whole."""

    mode: RenderMode
    """Client-side splats or server-side renders."""
    options: RenderOptions
    """Options passed to the render callback."""
    render_resolution: int
    """Longest side of a server-side render when the camera is still."""
    preview_resolution: int
    """Longest side of a server-side render while the camera moves."""
