"""Small writers for synthetic dataset fixtures shared by the reader tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(
    path: Path, width: int, height: int, mode: str = "RGB", seed: int = 0
) -> np.ndarray:
    """A random image file; returns its pixels as uint8 [H, W, C]."""
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)
    return pixels


def orbit_c2w_opengl(n: int, radius: float = 4.0, height: float = 1.0) -> np.ndarray:
    """``n`` OpenGL camera-to-world matrices on a circle, all looking at the origin."""
    out = []
    for i in range(n):
        a = 2.0 * math.pi * i / n
        eye = np.array([radius * math.cos(a), radius * math.sin(a), height])
        back = eye / np.linalg.norm(eye)  # OpenGL cameras look down -z
        right = np.cross([0.0, 0.0, 1.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, back, eye
        out.append(m)
    return np.stack(out)


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path
