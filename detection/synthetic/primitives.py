"""Surface Gaussians on box and cylinder primitives: the bricks of the synthetic rooms.

Every primitive is covered with flat, disc-like Gaussians lying in its surface (two axes of
``spacing * 0.6`` in the tangent plane, a tenth of that along the normal), the same kind of
surface splats a reconstructed indoor scan consists of. Points are drawn uniformly per unit
area, so ``density`` (Gaussians per square metre) fixes the look independently of the size.
The colour of a part is its base colour times a per-point texture factor (a stripe or checker
pattern in the part's own coordinates, plus a little noise), so objects are not flat-shaded.

Example:
    >>> gen = torch.Generator().manual_seed(0)
    >>> part = Part("box", (0.0, 0.0, 0.5), (1.0, 1.0, 1.0), (0.8, 0.2, 0.2))
    >>> g = part_gaussians(part, yaw=0.0, origin=(0, 0, 0), density=100.0, generator=gen)
    >>> len(g)  # 6 m^2 of surface at 100 Gaussians per m^2
    600
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.gaussians import Gaussians

Texture = Literal["plain", "stripes", "checker", "grain"]

SURFACE_OPACITY_LOGIT = 3.0
"""Opacity logit of every surface Gaussian (sigmoid(3) = 0.95: nearly opaque surfaces)."""


@dataclass(frozen=True)
class Part:
    """One primitive of an object, in the object's local frame (z up, yaw not applied).

    Attributes:
        kind: ``"box"`` (an axis-aligned cuboid in the local frame) or ``"cylinder"`` (axis
            along z, elliptic when ``size[0] != size[1]``; caps included).
        center: geometric centre in the local frame, metres.
        size: full extents ``(dx, dy, dz)``, metres.
        color: base RGB in ``[0, 1]``.
        texture: pattern multiplying the base colour.
        faces: which box faces get Gaussians (``"-x +x -y +y -z +z"`` subset); cylinders
            ignore it. Rooms use it to leave out the outside of walls and the floor's underside.
    """

    kind: Literal["box", "cylinder"]
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[float, float, float]
    texture: Texture = "plain"
    faces: tuple[str, ...] = ("-x", "+x", "-y", "+y", "-z", "+z")


def _texture(local: Tensor, texture: Texture, generator: torch.Generator) -> Tensor:
    """``[N]`` brightness factor of the pattern at local points ``[N, 3]``."""
    noise = 1.0 + 0.04 * torch.randn(local.shape[0], generator=generator)
    if texture == "stripes":  # horizontal bands, 8 cm apart (drawers, planks)
        return noise * (0.8 + 0.2 * ((local[:, 2] / 0.08).floor().remainder(2)))
    if texture == "checker":  # 25 cm tiles
        cells = (local[:, 0] / 0.25).floor() + (local[:, 1] / 0.25).floor()
        return noise * (0.85 + 0.15 * cells.remainder(2))
    if texture == "grain":  # wood-like: fine bands along x
        phase = local[:, 0] * 60.0 + 3.0 * torch.sin(local[:, 1] * 7.0)
        return noise * (0.9 + 0.1 * torch.sin(phase))
    return noise


def _box_surface(part: Part, density: float, generator: torch.Generator
                 ) -> tuple[Tensor, Tensor]:
    """Uniform points and outward normals on the selected faces of a local box."""
    sx, sy, sz = part.size
    specs = {"-x": (0, -1, (sy, sz)), "+x": (0, 1, (sy, sz)), "-y": (1, -1, (sx, sz)),
             "+y": (1, 1, (sx, sz)), "-z": (2, -1, (sx, sy)), "+z": (2, 1, (sx, sy))}
    pts, nrm = [], []
    for face in part.faces:
        axis, sign, (a, b) = specs[face]
        n = max(int(round(a * b * density)), 1)
        uv = torch.rand(n, 2, generator=generator) - 0.5
        local = torch.empty(n, 3)
        local[:, axis] = 0.5 * sign * part.size[axis]
        local[:, (axis + 1) % 3] = uv[:, 0] * part.size[(axis + 1) % 3]
        local[:, (axis + 2) % 3] = uv[:, 1] * part.size[(axis + 2) % 3]
        normal = torch.zeros(n, 3)
        normal[:, axis] = float(sign)
        pts.append(local)
        nrm.append(normal)
    return torch.cat(pts), torch.cat(nrm)


def _cylinder_surface(part: Part, density: float, generator: torch.Generator
                      ) -> tuple[Tensor, Tensor]:
    """Uniform points and outward normals on a local elliptic cylinder with caps."""
    rx, ry, h = part.size[0] / 2, part.size[1] / 2, part.size[2]
    perimeter = math.pi * (3 * (rx + ry) - math.sqrt((3 * rx + ry) * (rx + 3 * ry)))  # Ramanujan
    n_side = max(int(round(perimeter * h * density)), 1)
    t = 2 * math.pi * torch.rand(n_side, generator=generator)
    side = torch.stack([rx * t.cos(), ry * t.sin(),
                        (torch.rand(n_side, generator=generator) - 0.5) * h], -1)
    side_n = torch.nn.functional.normalize(torch.stack([t.cos() / rx, t.sin() / ry,
                                                        torch.zeros(n_side)], -1), dim=-1)
    n_cap = max(int(round(math.pi * rx * ry * density)), 1)
    caps_p, caps_n = [], []
    for sign in (-1.0, 1.0):
        r, a = torch.rand(n_cap, generator=generator).sqrt(), 2 * math.pi * torch.rand(
            n_cap, generator=generator)
        caps_p.append(torch.stack([rx * r * a.cos(), ry * r * a.sin(),
                                   torch.full((n_cap,), sign * h / 2)], -1))
        caps_n.append(torch.tensor([0.0, 0.0, sign]).expand(n_cap, 3))
    return torch.cat([side, *caps_p]), torch.cat([side_n, *caps_n])


def yaw_matrix(yaw: float) -> Float[Tensor, "3 3"]:
    """Rotation by ``yaw`` radians counter-clockwise about +z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def part_gaussians(part: Part, yaw: float, origin: tuple[float, float, float],
                   density: float, generator: torch.Generator) -> Gaussians:
    """Surface Gaussians of ``part``, placed in the world by ``yaw`` about +z then ``origin``.

    Args:
        part: the primitive in its object's local frame.
        yaw: the object's yaw (counter-clockwise about +z, radians).
        origin: the object's local origin in the world.
        density: Gaussians per square metre of surface (their spacing is ``density**-0.5``).
        generator: random source of the point positions and the texture noise.
    """
    if density <= 0:
        raise ValueError(f"part_gaussians: density must be > 0, got {density}")
    if part.kind == "box":
        local, normals = _box_surface(part, density, generator)
    elif part.kind == "cylinder":
        local, normals = _cylinder_surface(part, density, generator)
    else:
        raise ValueError(f"part_gaussians: unknown part kind {part.kind!r}")
    rgb = torch.tensor(part.color)[None] * _texture(local, part.texture, generator)[:, None]
    rot = yaw_matrix(yaw)
    world = (local + torch.tensor(part.center)) @ rot.T + torch.tensor(origin, dtype=torch.float32)
    return Gaussians.surface_discs(world, normals @ rot.T, rgb.clamp(0, 1),
                                   0.6 * density ** -0.5,
                                   opacity_logit=SURFACE_OPACITY_LOGIT)
