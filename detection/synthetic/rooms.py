"""A room generator from a seed: floor, walls, furniture of several classes, GT 3D boxes.

A room is a ``width x depth`` rectangle centred on the origin (z up, floor at z = 0) with
four walls and an optional ceiling, all covered in surface Gaussians
(:mod:`~detection.synthetic.primitives`), and 4-7 objects drawn from the furniture
templates (:mod:`~detection.synthetic.furniture`). Objects stand around a free disc in the
middle of the room where the camera moves (:mod:`~detection.synthetic.render`), and turn
their front to the room centre, as furniture does along walls. Placement is rejection
sampling: an object is kept only when its footprint, grown by a margin, stays inside the
walls, off the free disc, and apart from every object placed before (exact oriented
rectangle tests), so no two objects overlap.

Two box styles: ``"axis"`` (ScanNet: yaws are multiples of 90 degrees and the ground truth is
axis-aligned, ``yaw = 0`` with swapped extents where needed) and ``"yaw"`` (ARKitScenes:
a free yaw, stored in the box).

Example:
    >>> room = generate_room(RoomConfig(), seed=3)
    >>> len(room.boxes) == int(room.instance_ids.max())
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from detection.data.boxes import Boxes3D, bev_corners
from detection.synthetic.furniture import ROOM_CLASSES, TEMPLATES
from detection.synthetic.primitives import Part, part_gaussians
from splat3d.gaussians import Gaussians


@dataclass(frozen=True)
class RoomConfig:
    """Distribution of the generated rooms."""

    width: tuple[float, float] = (4.5, 6.0)
    """Range of the room's extent along x, metres."""
    depth: tuple[float, float] = (4.0, 5.5)
    """Range of the room's extent along y, metres."""
    height: float = 2.6
    """Wall height, metres."""
    num_objects: tuple[int, int] = (4, 7)
    """Inclusive range of the number of objects."""
    free_radius: float = 0.9
    """Radius of the object-free disc at the room centre where the cameras are."""
    margin: float = 0.08
    """Smallest gap between two objects, and between an object and a wall."""
    box_style: Literal["axis", "yaw"] = "axis"
    """``axis``: ScanNet-style axis-aligned boxes; ``yaw``: ARKitScenes-style free yaw."""
    object_density: float = 900.0
    """Surface Gaussians per square metre on furniture."""
    room_density: float = 120.0
    """Surface Gaussians per square metre on floor, walls and ceiling."""
    ceiling: bool = False
    """Close the room with a ceiling."""
    classes: tuple[str, ...] = ROOM_CLASSES
    """Classes objects are drawn from (uniformly); names of :data:`TEMPLATES`."""


@dataclass
class Room:
    """One generated room."""

    gaussians: Gaussians
    """Every surface Gaussian (structure and objects), SH degree 0."""
    instance_ids: Int[Tensor, " N"]
    """Per Gaussian: 0 for floor / walls / ceiling, ``k`` for the object of box ``k - 1``."""
    boxes: Boxes3D
    """Ground-truth boxes (no scores); ``labels`` index :data:`ROOM_CLASSES`."""
    size: tuple[float, float, float]
    """``(width, depth, height)`` of the room."""
    free_radius: float
    """Radius of the object-free disc at the centre."""

    @property
    def instance_labels(self) -> Int[np.ndarray, " I"]:
        """Instance id -> class index (``-1`` for id 0, the room structure)."""
        return np.concatenate([[-1], self.boxes.labels]).astype(np.int64)


def _rect_overlap(a: Float[np.ndarray, "4 2"], b: Float[np.ndarray, "4 2"]) -> bool:
    """Whether two convex quadrilaterals overlap (separating axis theorem)."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def _disc_distance(params: Float[np.ndarray, " 7"]) -> float:
    """Distance from the origin to the BEV rectangle of a box (0 when inside)."""
    c, s = math.cos(params[6]), math.sin(params[6])
    x, y = -params[0], -params[1]
    lx, ly = c * x + s * y, -s * x + c * y  # origin in the box frame
    dx = max(abs(lx) - params[3] / 2, 0.0)
    dy = max(abs(ly) - params[4] / 2, 0.0)
    return math.hypot(dx, dy)


def _structure_parts(width: float, depth: float, height: float, ceiling: bool,
                     gen: torch.Generator) -> list[Part]:
    """Floor, four walls (inner faces only) and the optional ceiling."""
    floor = tuple(float(v) for v in 0.35 + 0.3 * torch.rand(1, generator=gen).expand(3)
                  + 0.08 * torch.rand(3, generator=gen))
    wall = tuple(float(v) for v in 0.72 + 0.15 * torch.rand(1, generator=gen).expand(3)
                 + 0.06 * torch.rand(3, generator=gen))
    t = 0.02
    parts = [Part("box", (0.0, 0.0, -t / 2), (width, depth, t), floor, "checker", ("+z",)),
             Part("box", (-width / 2 - t / 2, 0.0, height / 2), (t, depth, height), wall,
                  "plain", ("+x",)),
             Part("box", (width / 2 + t / 2, 0.0, height / 2), (t, depth, height), wall,
                  "plain", ("-x",)),
             Part("box", (0.0, -depth / 2 - t / 2, height / 2), (width, t, height), wall,
                  "plain", ("+y",)),
             Part("box", (0.0, depth / 2 + t / 2, height / 2), (width, t, height), wall,
                  "plain", ("-y",))]
    if ceiling:
        parts.append(Part("box", (0.0, 0.0, height + t / 2), (width, depth, t), wall, "plain",
                          ("-z",)))
    return parts


def _place(config: RoomConfig, width: float, depth: float, template_size: tuple, placed: list,
           gen: torch.Generator, tries: int = 200) -> np.ndarray | None:
    """A collision-free box ``[7]`` (world yaw of the object in slot 6) or None."""
    dx, dy, dz = template_size
    m = config.margin
    for _ in range(tries):
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        cx, cy = float((u[0] - 0.5) * width), float((u[1] - 0.5) * depth)
        yaw = math.atan2(-cy, -cx) - math.pi / 2  # front (+y local) towards the centre
        if config.box_style == "axis":
            yaw = round(yaw / (math.pi / 2)) * (math.pi / 2)
        else:
            yaw += float(0.6 * (torch.rand(1, generator=gen) - 0.5))
        box = np.array([cx, cy, dz / 2, dx, dy, dz, yaw])
        grown = box.copy()
        grown[3:5] += 2 * m
        corners = bev_corners(grown[None])[0]
        inside = (np.abs(corners[:, 0]) <= width / 2).all() and (
            np.abs(corners[:, 1]) <= depth / 2).all()
        if not inside or _disc_distance(box) < config.free_radius:
            continue
        if any(_rect_overlap(corners, bev_corners(p[None])[0]) for p in placed):
            continue
        return box
    return None


def generate_room(config: RoomConfig, seed: int) -> Room:
    """The room of ``seed`` (the same seed and config always give the same room).

    Objects that find no free spot after 200 tries are dropped, so a room may hold fewer
    objects than drawn.
    """
    unknown = [c for c in config.classes if c not in TEMPLATES]
    if unknown or not config.classes:
        raise ValueError(f"RoomConfig.classes: unknown or empty {unknown or config.classes}; "
                         f"known classes are {sorted(TEMPLATES)}")
    gen = torch.Generator().manual_seed(seed)

    def uniform(lo_hi: tuple[float, float]) -> float:
        return float(lo_hi[0] + (lo_hi[1] - lo_hi[0]) * torch.rand(1, generator=gen))

    width, depth = uniform(config.width), uniform(config.depth)
    lo, hi = config.num_objects
    count = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    parts = [part_gaussians(p, 0.0, (0.0, 0.0, 0.0), config.room_density, gen)
             for p in _structure_parts(width, depth, config.height, config.ceiling, gen)]
    ids = [torch.zeros(len(g), dtype=torch.long) for g in parts]
    placed, labels = [], []
    for _ in range(count):
        name = config.classes[int(torch.randint(len(config.classes), (1,), generator=gen))]
        template = TEMPLATES[name]
        size = template.sample_size(gen)
        box = _place(config, width, depth, size, placed, gen)
        if box is None:
            continue
        placed.append(box)
        labels.append(ROOM_CLASSES.index(name))
        for part in template.parts(size, gen):
            g = part_gaussians(part, float(box[6]), (float(box[0]), float(box[1]), 0.0),
                               config.object_density, gen)
            parts.append(g)
            ids.append(torch.full((len(g),), len(placed), dtype=torch.long))
    params = np.array(placed).reshape(-1, 7)
    params[:, 6] = np.mod(params[:, 6] + math.pi, 2 * math.pi) - math.pi
    if config.box_style == "axis":
        quarter = np.round(params[:, 6] / (math.pi / 2)).astype(int) % 2 == 1
        params[quarter, 3:5] = params[quarter][:, [4, 3]]
        params[:, 6] = 0.0
    boxes = Boxes3D(params, np.array(labels, dtype=np.int64))
    return Room(Gaussians.cat(parts), torch.cat(ids), boxes, (width, depth, config.height),
                config.free_radius)
