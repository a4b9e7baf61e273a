"""Procedural coloured objects, their caption vocabulary, and multi-view renders.

The embedded diffusion prior (:mod:`text2d3.priors.embedded`) and the prompt-accuracy classifier
(:mod:`text2d3.priors.classifier`) learn from images our own rasterizer renders of simple
objects: one of :data:`SHAPES` painted one of :data:`COLOURS`, seen from random viewpoints and
captioned ``"a <colour> <shape>"``.

Vocabulary (6 colours x 5 shapes = 30 captions):

* colours: red, orange, yellow, green, blue, purple
* shapes: cube, sphere, cone, torus, cylinder

Each object is a few hundred opaque isotropic Gaussians on the shape's surface. Colour is baked
per Gaussian with Lambertian shading from a fixed world light, so the shape stays readable in a
32 x 32 image. The object sits at the origin, +z up, within a radius of about 0.8.

Example:
    >>> scene = make_object(ObjectLabel(colour=0, shape=1), seed=0)
    >>> images = render_views(scene, random_cameras(4, 32, seed=0))
    >>> images.shape
    torch.Size([4, 32, 32, 3])
    >>> parse_prompt("a red sphere")
    ObjectLabel(colour=0, shape=1)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians
from splat3d.rasterize import rasterize

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "orange": (0.95, 0.50, 0.05),
    "yellow": (0.92, 0.85, 0.10),
    "green": (0.10, 0.70, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "purple": (0.55, 0.15, 0.75),
}
"""Colour names and their base RGB in [0, 1]; the index order is the token id."""

SHAPES: tuple[str, ...] = ("cube", "sphere", "cone", "torus", "cylinder")
"""Shape names; the index order is the token id."""

COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
BACKGROUND: tuple[float, float, float] = (0.92, 0.92, 0.92)
"""Background colour of every render (light grey)."""

_SYNONYMS = {"ball": "sphere", "box": "cube", "ring": "torus", "donut": "torus",
             "pyramid": "cone", "violet": "purple"}
_FILLER = {"a", "an", "the", "one", "single", "of", "photo", "render", "3d", "model", "object",
           "image", "picture"}
_LIGHT = (0.35, -0.55, 0.76)  # world direction towards the light (normalised below)


@dataclass(frozen=True)
class ObjectLabel:
    """A (colour, shape) pair as token ids into :data:`COLOUR_NAMES` and :data:`SHAPES`."""

    colour: int
    """Index into :data:`COLOUR_NAMES`."""
    shape: int
    """Index into :data:`SHAPES`."""

    @property
    def caption(self) -> str:
        """``"a <colour> <shape>"``."""
        return f"a {COLOUR_NAMES[self.colour]} {SHAPES[self.shape]}"

    @property
    def index(self) -> int:
        """Flat class id ``colour * len(SHAPES) + shape`` in ``[0, 30)``."""
        return self.colour * len(SHAPES) + self.shape


def all_labels() -> list[ObjectLabel]:
    """Every (colour, shape) pair in flat-index order."""
    return [ObjectLabel(c, s) for c in range(len(COLOUR_NAMES)) for s in range(len(SHAPES))]


def vocabulary_text() -> str:
    """A one-paragraph description of the accepted prompts, for error messages and ``--help``."""
    return (f"prompts name one colour from {list(COLOUR_NAMES)} and one shape from "
            f"{list(SHAPES)}, e.g. 'a red cube' (also accepted: {sorted(_SYNONYMS)}; "
            f"filler words {sorted(_FILLER)})")


def parse_prompt(prompt: str) -> ObjectLabel:
    """The (colour, shape) a prompt such as ``"a red cube"`` names.

    Words are lower-cased; plurals, articles and a few synonyms (ball, box, ring, pyramid, ...)
    are accepted. Raises ``ValueError`` naming the unknown word and listing the vocabulary when a
    word is not understood or the colour or shape is missing or repeated.
    """
    colours: list[int] = []
    shapes: list[int] = []
    for raw in re.findall(r"[a-z0-9]+", prompt.lower()):
        word = _SYNONYMS.get(raw, raw)
        if word not in COLOURS and word not in SHAPES and word.endswith("s"):
            word = _SYNONYMS.get(word[:-1], word[:-1])
        if word in COLOURS:
            colours.append(COLOUR_NAMES.index(word))
        elif word in SHAPES:
            shapes.append(SHAPES.index(word))
        elif raw not in _FILLER:
            raise ValueError(f"parse_prompt: unknown word {raw!r} in {prompt!r}; "
                             f"{vocabulary_text()}")
    if len(colours) != 1 or len(shapes) != 1:
        raise ValueError(f"parse_prompt: {prompt!r} names {len(colours)} colours and "
                         f"{len(shapes)} shapes, expected one of each; {vocabulary_text()}")
    return ObjectLabel(colours[0], shapes[0])


# ---------------------------------------------------------------------- shapes
def _surface(shape: str, n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` points spread uniformly by area on a unit-size shape, and their outward normals."""
    u = torch.rand(n, 2, generator=g)
    if shape == "sphere":
        normal = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
        return 0.7 * normal, normal
    if shape == "cube":
        face = torch.randint(0, 6, (n,), generator=g)
        axis, sign = face // 2, (face % 2) * 2.0 - 1.0
        p = (u * 2 - 1) * 0.55
        pts = torch.zeros(n, 3)
        normal = torch.zeros(n, 3)
        rows = torch.arange(n)
        others = torch.stack([(axis + 1) % 3, (axis + 2) % 3], dim=-1)
        pts[rows, axis] = sign * 0.55
        pts[rows[:, None], others] = p
        normal[rows, axis] = sign
        return pts, normal
    if shape == "cylinder":
        radius, half = 0.5, 0.55
        side_area, cap_area = 2 * math.pi * radius * 2 * half, math.pi * radius**2
        part = torch.rand(n, generator=g) * (side_area + 2 * cap_area)
        theta = u[:, 0] * 2 * math.pi
        ring = torch.stack([theta.cos(), theta.sin(), torch.zeros(n)], dim=-1)
        side = part < side_area
        top = part > side_area + cap_area
        r = torch.where(side, torch.full((n,), radius), radius * u[:, 1].sqrt())
        z = torch.where(side, (u[:, 1] * 2 - 1) * half, torch.where(top, half, -half))
        pts = ring * r[:, None] + torch.stack([torch.zeros(n), torch.zeros(n), z], dim=-1)
        cap_normal = torch.zeros(n, 3)
        cap_normal[:, 2] = torch.where(top, 1.0, -1.0)
        return pts, torch.where(side[:, None], ring, cap_normal)
    if shape == "cone":
        radius, height = 0.6, 1.2
        slant = math.hypot(radius, height)
        side_area, base_area = math.pi * radius * slant, math.pi * radius**2
        side = torch.rand(n, generator=g) * (side_area + base_area) < side_area
        theta = u[:, 0] * 2 * math.pi
        ring = torch.stack([theta.cos(), theta.sin(), torch.zeros(n)], dim=-1)
        frac = u[:, 1].sqrt()  # on both the side and the base, area grows linearly in radius
        z = torch.where(side, height * (1 - frac), torch.zeros(n)) - 0.45 * height
        pts = ring * (radius * frac)[:, None]
        pts[:, 2] = z
        side_normal = torch.nn.functional.normalize(ring * height + torch.tensor([0, 0, radius]),
                                                    dim=-1)
        return pts, torch.where(side[:, None], side_normal, torch.tensor([0.0, 0.0, -1.0]))
    if shape == "torus":
        major, minor = 0.5, 0.2
        # The area element is proportional to (R + r cos phi): draw phi from that density.
        grid = torch.linspace(0, 2 * math.pi, 257)[:-1]
        pick = torch.multinomial(major + minor * grid.cos(), n, replacement=True, generator=g)
        phi = grid[pick] + u[:, 1] * (2 * math.pi / 256)
        theta = u[:, 0] * 2 * math.pi
        ring = torch.stack([theta.cos(), theta.sin(), torch.zeros(n)], dim=-1)
        normal = ring * phi.cos()[:, None] + torch.tensor([0.0, 0.0, 1.0]) * phi.sin()[:, None]
        return ring * major + minor * normal, normal
    raise ValueError(f"_surface: unknown shape {shape!r}; expected one of {SHAPES}")


def _random_rotation(g: torch.Generator, tilt: float) -> Float[Tensor, "3 3"]:
    """A random spin about z followed by a small tilt (radians, at most ``tilt``)."""
    a = float(torch.rand((), generator=g)) * 2 * math.pi
    b = (float(torch.rand((), generator=g)) * 2 - 1) * tilt
    spin = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                         [0.0, 0.0, 1.0]])
    lean = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)],
                         [0.0, math.sin(b), math.cos(b)]])
    return lean @ spin


def make_object(
    label: ObjectLabel, *, seed: int = 0, num_points: int = 600, jitter: float = 0.06,
) -> Gaussians:
    """Gaussians (SH degree 0) of the labelled object with a random pose, size and tint.

    Args:
        label: colour and shape.
        seed: seed for the pose, scale, tint and surface samples.
        num_points: number of Gaussians.
        jitter: amplitude of the random per-object tint added to the base colour.
    """
    g = torch.Generator().manual_seed(seed)
    pts, normals = _surface(SHAPES[label.shape], num_points, g)
    rot = _random_rotation(g, tilt=0.25)
    scale = 0.75 + 0.3 * float(torch.rand((), generator=g))
    pts, normals = pts @ rot.T * scale, normals @ rot.T
    base = torch.tensor(COLOURS[COLOUR_NAMES[label.colour]])
    tint = (base + jitter * (torch.rand(3, generator=g) * 2 - 1)).clamp(0, 1)
    light = torch.nn.functional.normalize(torch.tensor(_LIGHT), dim=0)
    shade = 0.45 + 0.55 * (normals @ light).clamp_min(0)  # ambient + Lambertian diffuse
    g = Gaussians.from_points(pts, tint * shade[:, None], sh_degree=0, opacity=0.95,
                              scale_factor=0.9)
    # Isolated samples at edges get wide Gaussians that blur the silhouette: cap at the median.
    g.log_scales = g.log_scales.clamp(max=float(g.log_scales.median()))
    return g


def random_cameras(
    n: int, resolution: int, *, seed: int = 0, distance: tuple[float, float] = (2.7, 3.3),
    elevation_deg: tuple[float, float] = (-10.0, 60.0), fov_x: float = 0.75,
) -> Cameras:
    """``n`` cameras on a sphere around the origin looking at it (random azimuth, elevation and
    distance within the given ranges), ``resolution`` x ``resolution`` pixels."""
    g = torch.Generator().manual_seed(seed)
    azimuth = torch.rand(n, generator=g) * 2 * math.pi
    lo, hi = (math.radians(e) for e in elevation_deg)
    elevation = lo + torch.rand(n, generator=g) * (hi - lo)
    radius = distance[0] + torch.rand(n, generator=g) * (distance[1] - distance[0])
    eye = radius[:, None] * torch.stack([elevation.cos() * azimuth.cos(),
                                         elevation.cos() * azimuth.sin(), elevation.sin()], -1)
    return Cameras.from_look_at(eye, torch.zeros(n, 3), fov_x=fov_x, width=resolution,
                                height=resolution)


def render_views(gaussians: Gaussians, cameras: Cameras) -> Float[Tensor, "C H W 3"]:
    """Render ``gaussians`` from every camera on the :data:`BACKGROUND`, clamped to [0, 1]."""
    out = rasterize(gaussians, cameras, background=torch.tensor(BACKGROUND), backend="torch")
    return out.rgb.clamp(0, 1)


@dataclass(frozen=True)
class RenderSet:
    """A labelled set of multi-view renders."""

    images: Float[Tensor, "N H W 3"]
    """Renders in [0, 1]."""
    colours: Int[Tensor, " N"]
    """Colour token of each image."""
    shapes: Int[Tensor, " N"]
    """Shape token of each image."""


def render_dataset(
    objects_per_label: int, views_per_object: int, resolution: int, *, seed: int = 0,
) -> RenderSet:
    """Renders of ``objects_per_label`` random objects for every (colour, shape) pair, each from
    ``views_per_object`` random cameras. Different ``seed`` values give disjoint objects and
    viewpoints (used to hold out the classifier's data from the prior's)."""
    images, colours, shapes = [], [], []
    for label in all_labels():
        for k in range(objects_per_label):
            obj_seed = ((seed * 1_000_003 + label.index) * 10_007 + k) % (2**62)
            views = render_views(make_object(label, seed=obj_seed),
                                 random_cameras(views_per_object, resolution, seed=obj_seed + 1))
            images.append(views)
            colours += [label.colour] * views_per_object
            shapes += [label.shape] * views_per_object
    return RenderSet(torch.cat(images), torch.tensor(colours), torch.tensor(shapes))
