"""Boxes as distances from a location to their six faces, and back (FCOS / FCAF3D coding).

An anchor-free detector predicts, at a location ``p``, the distances to the six faces of the
box that contains it (Tian et al., 2019, FCOS; Rukhovich et al., 2022, FCAF3D, Sec. 3.2).
For a box with yaw ``theta`` the distances are measured along the box's own axes:
with ``q = R(-theta) (p - c)`` the location in the box frame,

    d = (dx/2 + q_x, dx/2 - q_x, dy/2 + q_y, dy/2 - q_y, dz/2 + q_z, dz/2 - q_z)

(order: -x face, +x face, -y face, +y face, -z face, +z face). All six are positive exactly
when ``p`` is strictly inside the box. Boxes follow :mod:`detection.data.boxes`.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor


def rotate_z(v: Float[Tensor, "*B 3"], angle: Float[Tensor, "*B"]) -> Float[Tensor, "*B 3"]:
    """Rotate vectors counter-clockwise about +z by ``angle`` radians."""
    c, s = torch.cos(angle), torch.sin(angle)
    x, y, z = v.unbind(-1)
    return torch.stack([c * x - s * y, s * x + c * y, z], dim=-1)


def face_distances(
    points: Float[Tensor, "*B 3"], boxes: Float[Tensor, "*B 7"]
) -> Float[Tensor, "*B 6"]:
    """Distances from each point to the six faces of its box (negative outside).

    Example:
        >>> face_distances(torch.zeros(3), torch.tensor([0.5, 0, 0, 2, 2, 2, 0]))
        tensor([0.5000, 1.5000, 1.0000, 1.0000, 1.0000, 1.0000])
    """
    q = rotate_z(points - boxes[..., :3], -boxes[..., 6])
    half = boxes[..., 3:6] / 2
    return torch.stack([half + q, half - q], dim=-1).flatten(-2)


def boxes_from_distances(
    points: Float[Tensor, "*B 3"], distances: Float[Tensor, "*B 6"], yaw: Float[Tensor, "*B"]
) -> Float[Tensor, "*B 7"]:
    """The boxes whose faces lie at ``distances`` from ``points`` along axes rotated by
    ``yaw`` (the inverse of :func:`face_distances`)."""
    minus, plus = distances[..., 0::2], distances[..., 1::2]  # [*B, 3] each
    size = minus + plus
    center = points + rotate_z((plus - minus) / 2, yaw)
    return torch.cat([center, size, yaw[..., None]], dim=-1)
