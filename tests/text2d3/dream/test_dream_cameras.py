"""Camera sampler: geometry against the embedded priors' camera convention, ranges, view
prompts."""

from __future__ import annotations

import math

import pytest
import torch

from text2d3.dream.cameras import CameraConfig, CameraSampler, SampledViews, orbit_camera
from text2d3.procedural import random_cameras


def test_orbit_camera_matches_the_procedural_cameras() -> None:
    # random_cameras draws azimuth, elevation and distance from one generator in that order.
    g = torch.Generator().manual_seed(3)
    az = torch.rand(1, generator=g) * 2 * math.pi
    el = math.radians(-10) + torch.rand(1, generator=g) * math.radians(70)
    dist = 2.7 + torch.rand(1, generator=g) * 0.6
    ref = random_cameras(1, 32, seed=3)
    cam = orbit_camera(math.degrees(float(az)), math.degrees(float(el)), float(dist), 0.75, 32)
    torch.testing.assert_close(cam.world_to_cam, ref.world_to_cam, atol=1e-5, rtol=0)
    torch.testing.assert_close(cam.K, ref.K)


def test_samples_look_at_the_origin_within_the_ranges() -> None:
    config = CameraConfig(resolution=24, distance=(2.0, 2.5), elevation_deg=(0.0, 30.0),
                          azimuth_deg=(-90.0, 90.0), fov_deg=(40.0, 50.0))
    views = CameraSampler(config).sample(64, torch.Generator().manual_seed(0))
    cams = views.cameras
    assert len(cams) == 64 and (cams.width, cams.height) == (24, 24)
    centres = cams.centers
    r = centres.norm(dim=-1)
    assert float(r.min()) >= 2.0 - 1e-5 and float(r.max()) <= 2.5 + 1e-5
    elev = torch.rad2deg(torch.asin(centres[:, 2] / r))
    torch.testing.assert_close(elev, views.elevation_deg, atol=1e-3, rtol=0)
    azim = torch.rad2deg(torch.atan2(centres[:, 1], centres[:, 0]))
    torch.testing.assert_close(azim, views.azimuth_deg, atol=1e-3, rtol=0)
    origin = cams.world_to_cam[:, :3, 3]  # the origin in camera space
    pix = (cams.K @ origin[..., None])[..., 0]
    torch.testing.assert_close(pix[:, :2] / pix[:, 2:], torch.full((64, 2), 12.0), atol=1e-3,
                               rtol=0)
    fx = cams.K[:, 0, 0]
    fov = torch.rad2deg(2 * torch.atan(12.0 / fx))
    assert float(fov.min()) >= 40.0 - 1e-3 and float(fov.max()) <= 50.0 + 1e-3


def test_view_prompts() -> None:
    cams = orbit_camera(0.0, 0.0, 3.0, 0.75, 8)
    views = SampledViews(cams.cat([cams] * 4), torch.tensor([10.0, 80.0, -170.0, 200.0]),
                         torch.zeros(4))
    assert views.directions() == ["front", "side", "back", "back"]
    assert views.prompts("a cat", open_vocabulary=True) == [
        "a cat, front view", "a cat, side view", "a cat, back view", "a cat, back view"]
    assert views.prompts("a cat", open_vocabulary=False) == ["a cat"] * 4
    on = SampledViews(views.cameras, views.azimuth_deg, views.elevation_deg, view_prompts="on")
    assert on.prompts("x", open_vocabulary=False)[1] == "x, side view"
    off = SampledViews(views.cameras, views.azimuth_deg, views.elevation_deg, view_prompts="off")
    assert off.prompts("x", open_vocabulary=True) == ["x"] * 4


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="elevation_deg"):
        CameraConfig(elevation_deg=(30.0, 10.0))
    with pytest.raises(ValueError, match="resolution"):
        CameraConfig(resolution=0)
