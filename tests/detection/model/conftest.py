"""Tiny synthetic detection scenes built in code: Gaussians on the surfaces of coloured boxes
of three classes standing on a floor inside walls, with their ground-truth boxes. No
rendering and no 3DGS training: the Gaussians are placed directly, so a scene takes
milliseconds and the detector tests can train on a handful of them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detection.data.boxes import Boxes3D
from detection.model.data import DetectionScene
from splat3d.gaussians import Gaussians
from splat3d.sh import rgb_to_sh_dc

CLASSES = ("table", "cabinet", "chair")
"""ScanNet names, so scene files can store them."""

# class -> (base size dx, dy, dz in metres, base colour)
_SHAPES = {
    0: ((1.2, 0.7, 0.75), (0.55, 0.35, 0.2)),
    1: ((0.6, 0.45, 1.5), (0.3, 0.4, 0.7)),
    2: ((0.45, 0.45, 0.85), (0.8, 0.15, 0.15)),
}


def _surface_points(rng: np.random.Generator, box: np.ndarray, density: float) -> np.ndarray:
    """Points uniform on the five visible faces (not the bottom) of a box with yaw."""
    cx, cy, cz, dx, dy, dz, yaw = box
    half = np.array([dx, dy, dz]) / 2
    parts = []
    # the five faces (fixed axis, sign): top, +-y sides, +-x sides; the bottom is hidden
    for axis, sign in ((2, 1), (1, 1), (1, -1), (0, 1), (0, -1)):
        free = [a for a in range(3) if a != axis]
        n = max(4, int(4 * half[free[0]] * half[free[1]] * density))
        p = np.empty((n, 3))
        p[:, axis] = sign * half[axis]
        for a in free:
            p[:, a] = rng.uniform(-half[a], half[a], n)
        parts.append(p)
    local = np.concatenate(parts)
    c, s = math.cos(yaw), math.sin(yaw)
    x = c * local[:, 0] - s * local[:, 1] + cx
    y = s * local[:, 0] + c * local[:, 1] + cy
    return np.stack([x, y, local[:, 2] + cz], 1)


def make_scene(
    seed: int, room: float = 3.0, objects: int = 4, density: float = 600.0,
    with_yaw: bool = False, name: str | None = None,
) -> DetectionScene:
    """A ``room x room`` m floor with 0.5 m walls and ``objects`` non-overlapping boxes."""
    rng = np.random.default_rng(seed)
    boxes, labels = [], []
    tries, first = 0, int(rng.integers(3))
    while len(boxes) < objects and tries < 500:
        tries += 1
        label = (first + len(boxes)) % 3  # every class in every scene of >= 3 objects
        size = np.array(_SHAPES[label][0]) * rng.uniform(0.85, 1.15, 3)
        yaw = rng.uniform(-math.pi / 2, math.pi / 2) if with_yaw else 0.0
        radius = 0.5 * math.hypot(size[0], size[1])
        xy = rng.uniform(radius + 0.05, room - radius - 0.05, 2)
        if any(np.hypot(*(xy - b[:2])) < radius + 0.5 * math.hypot(b[3], b[4]) + 0.1
               for b in boxes):
            continue
        boxes.append(np.array([xy[0], xy[1], size[2] / 2, *size, yaw]))
        labels.append(label)
    points, colours = [], []
    for box, label in zip(boxes, labels, strict=True):
        p = _surface_points(rng, box, density)
        base = np.array(_SHAPES[label][1]) + rng.normal(0, 0.05, 3)
        points.append(p)
        colours.append(np.clip(base + rng.normal(0, 0.04, p.shape), 0, 1))
    n_floor = int(room * room * density * 0.5)
    floor = np.stack([rng.uniform(0, room, n_floor), rng.uniform(0, room, n_floor),
                      rng.normal(0, 0.005, n_floor)], 1)
    n_wall = int(room * 0.5 * density * 0.5)
    walls = []
    for axis in (0, 1):
        for at in (0.0, room):
            w = np.empty((n_wall, 3))
            w[:, axis] = at + rng.normal(0, 0.005, n_wall)
            w[:, 1 - axis] = rng.uniform(0, room, n_wall)
            w[:, 2] = rng.uniform(0, 0.5, n_wall)
            walls.append(w)
    background = np.concatenate([floor, *walls])
    points.append(background)
    colours.append(np.clip(0.75 + rng.normal(0, 0.05, background.shape), 0, 1))
    pts = torch.from_numpy(np.concatenate(points)).float()
    rgb = torch.from_numpy(np.concatenate(colours)).float()
    n = len(pts)
    quats = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(n, 4))).float(), dim=1)
    log_scales = torch.log(torch.from_numpy(rng.uniform(0.01, 0.03, (n, 3))).float())
    sh = rgb_to_sh_dc(rgb)[:, None]
    opacity = torch.from_numpy(rng.uniform(-1, 3, n)).float()
    g = Gaussians(pts, quats, log_scales, opacity, sh)
    params = np.stack(boxes) if boxes else np.zeros((0, 7))
    return DetectionScene(name or f"scene_{seed:03d}", g, Boxes3D(params, np.array(labels)))


@pytest.fixture
def scene_classes() -> tuple[str, ...]:
    """The class tuple of :func:`make_scene`'s labels."""
    return CLASSES


@pytest.fixture
def scene_factory():
    """:func:`make_scene`, for tests."""
    return make_scene
