"""Where score distillation looks from: the random camera policy and view-dependent prompts.

Each distillation step renders the Gaussians from a few cameras drawn by :class:`CameraSampler`
(on a sphere around the origin, looking at it, +z up) and asks the prior about each render.
The defaults match :func:`text2d3.procedural.random_cameras`, the distribution the embedded
priors were trained on (distance 2.7-3.3, elevation -10..60 degrees, ``fov_x = 0.75``); a prior
asked about views it never saw pulls the object towards whatever it imagines there.

Open-vocabulary priors (Stable Diffusion, IF) also get a view suffix appended to the prompt
("..., front view" / "side view" / "back view"), the view-dependent conditioning of DreamFusion
(Poole et al. 2022, Sec. 3.2) that reduces multi-faced ("Janus") results. The embedded priors
know no view words, so the suffix is off for them (``view_prompts = "auto"``).

Example:
    >>> sampler = CameraSampler(CameraConfig(resolution=32))
    >>> views = sampler.sample(4, torch.Generator().manual_seed(0))
    >>> len(views.cameras), views.prompts("a red cube", open_vocabulary=False)[0]
    (4, 'a red cube')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.cameras import Cameras


@dataclass(frozen=True)
class CameraConfig:
    """Ranges of the random distillation cameras (angles in degrees, distances in world units)."""

    resolution: int = 32
    """Rendered image side in pixels (each prior resizes renders to its own resolution)."""
    distance: tuple[float, float] = (2.7, 3.3)
    """Camera distance from the origin, uniform in this range."""
    elevation_deg: tuple[float, float] = (-10.0, 60.0)
    """Elevation above the xy-plane, uniform in this range."""
    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    """Azimuth around +z measured from +x (the "front"), uniform in this range."""
    fov_deg: tuple[float, float] = (42.97, 42.97)
    """Horizontal field of view, uniform in this range (42.97 degrees = 0.75 rad, the embedded
    priors' training value)."""
    view_prompts: Literal["auto", "on", "off"] = "auto"
    """Append "front/side/back view" to the prompt: ``auto`` does so for open-vocabulary priors
    (Stable Diffusion, IF) and not for the embedded priors, whose vocabulary has no view words."""
    front_half_width_deg: float = 45.0
    """Views within this azimuth of the front are "front view"; within it of the back,
    "back view"; the rest "side view" (DreamFusion's split)."""

    def __post_init__(self) -> None:
        if self.resolution < 4:
            raise ValueError(f"CameraConfig.resolution must be >= 4, got {self.resolution}")
        for name in ("distance", "elevation_deg", "azimuth_deg", "fov_deg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"CameraConfig.{name}: lower bound {lo} > upper bound {hi}")
        if self.distance[0] <= 0 or not 0 < self.fov_deg[0] <= self.fov_deg[1] < 180:
            raise ValueError("CameraConfig: distance must be positive and fov in (0, 180) degrees")


@dataclass(frozen=True)
class SampledViews:
    """A batch of distillation cameras and the angles they were drawn at."""

    cameras: Cameras
    """``B`` cameras looking at the origin."""
    azimuth_deg: Float[Tensor, " B"]
    """Azimuth of each camera, degrees in ``(-180, 180]`` (0 = front, +x)."""
    elevation_deg: Float[Tensor, " B"]
    """Elevation of each camera, degrees."""
    front_half_width_deg: float = 45.0
    """Half-width of the front and back sectors (from :attr:`CameraConfig.front_half_width_deg`)."""
    view_prompts: Literal["auto", "on", "off"] = "auto"
    """The sampler's :attr:`CameraConfig.view_prompts`."""

    def directions(self) -> list[str]:
        """``"front"``, ``"side"`` or ``"back"`` per camera."""
        az = torch.remainder(self.azimuth_deg + 180.0, 360.0) - 180.0  # (-180, 180]
        w = self.front_half_width_deg
        return ["front" if abs(a) <= w else "back" if abs(a) >= 180.0 - w else "side"
                for a in az.tolist()]

    def prompts(self, prompt: str, *, open_vocabulary: bool) -> list[str]:
        """The prompt for each camera, with ``", <direction> view"`` appended when view prompts
        are on (``auto``: when the prior has an open vocabulary)."""
        on = self.view_prompts == "on" or (self.view_prompts == "auto" and open_vocabulary)
        if not on:
            return [prompt] * len(self.cameras)
        return [f"{prompt}, {d} view" for d in self.directions()]


class CameraSampler:
    """Draws :class:`SampledViews` from a :class:`CameraConfig` (the policy has no state: the
    caller owns the generator, so runs are reproducible from the seed)."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config

    def sample(self, n: int, generator: torch.Generator) -> SampledViews:
        """``n`` random cameras."""
        c = self.config

        def uniform(lo_hi: tuple[float, float]) -> Tensor:
            lo, hi = lo_hi
            return lo + torch.rand(n, generator=generator, dtype=torch.float64) * (hi - lo)

        azimuth, elevation = uniform(c.azimuth_deg), uniform(c.elevation_deg)
        distance, fov = uniform(c.distance), uniform(c.fov_deg)
        cams = [orbit_camera(float(a), float(e), float(d), math.radians(float(f)), c.resolution)
                for a, e, d, f in zip(azimuth, elevation, distance, fov, strict=True)]
        return SampledViews(Cameras.cat(cams), azimuth.float(), elevation.float(),
                            c.front_half_width_deg, c.view_prompts)


def orbit_camera(
    azimuth_deg: float, elevation_deg: float, distance: float, fov_x: float, resolution: int
) -> Cameras:
    """One square camera at the given spherical position looking at the origin, +z up
    (the placement of :func:`text2d3.procedural.random_cameras`)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = torch.tensor([[distance * math.cos(el) * math.cos(az),
                         distance * math.cos(el) * math.sin(az), distance * math.sin(el)]])
    return Cameras.from_look_at(eye, torch.zeros(1, 3), fov_x=fov_x, width=resolution,
                                height=resolution)
