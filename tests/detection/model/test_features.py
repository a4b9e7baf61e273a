"""Per-Gaussian features and voxelisation against per-Gaussian / per-voxel Python loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detection.model.features import (
    VOXEL_CHANNELS,
    gaussian_features,
    scene_grid,
    voxelize,
)
from splat3d.gaussians import Gaussians

SH_C0 = 0.28209479177387814


def _random_gaussians(n: int, seed: int) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    return Gaussians(
        torch.rand(n, 3, generator=g) * 2 - 1, torch.randn(n, 4, generator=g),
        torch.randn(n, 3, generator=g) - 3, torch.randn(n, generator=g),
        torch.randn(n, 4, 3, generator=g),
    )


def test_gaussian_features_match_per_gaussian_reference():
    g = _random_gaussians(20, 0)
    feats = gaussian_features(g)
    assert feats.shape == (20, 14)
    for i in range(20):
        q = g.quats[i].double() / g.quats[i].double().norm()
        if q[0] < 0:
            q = -q
        rgb = [min(1.0, max(0.0, 0.5 + SH_C0 * float(c))) for c in g.sh[i, 0]]
        expected = [*g.means[i].tolist(), *[math.exp(float(s)) for s in g.log_scales[i]],
                    *q.tolist(), *rgb, 1 / (1 + math.exp(-float(g.opacity_logits[i])))]
        torch.testing.assert_close(feats[i].double(), torch.tensor(expected, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-6)


def test_scene_grid_covers_points_with_a_shape_multiple():
    means = torch.tensor([[0.03, -0.41, 1.0], [2.5, 0.3, 1.72]])
    grid = scene_grid(means, 0.1, multiple=8)
    origin = np.array(grid.origin)
    assert all(n % 8 == 0 for n in grid.shape)
    ijk = np.floor((means.numpy() - origin) / 0.1)
    assert (ijk >= 0).all() and (ijk < np.array(grid.shape)).all()
    np.testing.assert_allclose(origin / 0.1, np.round(origin / 0.1), atol=1e-9)
    with pytest.raises(ValueError, match="zero Gaussians"):
        scene_grid(torch.zeros(0, 3), 0.1, 8)


def test_voxelize_matches_per_voxel_loop():
    g = _random_gaussians(300, 1)
    grid = scene_grid(g.means, 0.5, multiple=2)
    floor_z = -0.7
    vox = voxelize(g, grid, floor_z)
    assert vox.shape == (VOXEL_CHANNELS, *grid.shape)
    feats = gaussian_features(g).double()
    origin = torch.tensor(grid.origin, dtype=torch.float64)
    buckets: dict[tuple, list] = {}
    for i in range(len(g)):
        rel = (feats[i, :3] - origin) / grid.voxel_size
        key = tuple(int(v) for v in torch.floor(rel))
        row = torch.cat([rel - torch.floor(rel) - 0.5, torch.log(feats[i, 3:6] / 0.5) / 4,
                         feats[i, 6:10], feats[i, 10:13] - 0.5, feats[i, 13:14]])
        buckets.setdefault(key, []).append(row)
    for i, j, k in [(a, b, c) for a in range(grid.shape[0]) for b in range(grid.shape[1])
                    for c in range(grid.shape[2])]:
        rows = buckets.get((i, j, k), [])
        height = grid.origin[2] + (k + 0.5) * 0.5 - floor_z
        if rows:
            expected = torch.cat([torch.stack(rows).mean(0),
                                  torch.tensor([height, math.log1p(len(rows))])])
        else:
            expected = torch.zeros(VOXEL_CHANNELS, dtype=torch.float64)
        torch.testing.assert_close(vox[:, i, j, k].double(), expected, rtol=1e-4, atol=1e-5)


def test_voxelize_drops_gaussians_outside_the_grid():
    g = _random_gaussians(50, 2)
    grid = scene_grid(g.means[:10], 0.25, multiple=1)
    inside = ((g.means - torch.tensor(grid.origin)) / 0.25).floor()
    inside = ((inside >= 0) & (inside < torch.tensor(grid.shape))).all(1)
    vox = voxelize(g, grid, 0.0)
    assert math.isclose(float(torch.expm1(vox[-1]).sum()), float(inside.sum()), rel_tol=1e-5)
