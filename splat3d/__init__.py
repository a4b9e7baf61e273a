"""splat3d: the Gaussian-splatting core (cameras, Gaussians, differentiable rasterizer, I/O)."""

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians
from splat3d.rasterize import RenderOutput, rasterize

__all__ = ["Cameras", "Gaussians", "RenderOutput", "rasterize"]
