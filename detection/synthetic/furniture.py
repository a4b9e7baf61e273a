"""Furniture-like objects of the synthetic rooms, one template per class, as composed parts.

Each template takes the object's full size ``(dx, dy, dz)`` and a random generator and
returns its :class:`~detection.synthetic.primitives.Part` list in the local frame: origin at
the centre of the footprint on the floor, z up, the front facing +y (a chair's or a sofa's
back is at -y). Parts never leave the box ``[-dx/2, dx/2] x [-dy/2, dy/2] x [0, dz]``, so that
box, yawed and placed, is the object's ground-truth 3D box. Class names are ScanNet's (the
VoteNet 18-class list), so result tables read like ScanNet ones.

Example:
    >>> gen = torch.Generator().manual_seed(0)
    >>> parts = TEMPLATES["table"].parts((1.2, 0.8, 0.75), gen)
    >>> len(parts)  # a top and four legs
    5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from detection.synthetic.primitives import Part

Size = tuple[float, float, float]
Color = tuple[float, float, float]

WOODS: tuple[Color, ...] = ((0.55, 0.36, 0.2), (0.7, 0.52, 0.33), (0.4, 0.26, 0.15),
                            (0.82, 0.7, 0.52))
"""Wood tones shared by tables, cabinets, bookshelves and chairs."""
FABRICS: tuple[Color, ...] = ((0.25, 0.35, 0.6), (0.6, 0.22, 0.2), (0.3, 0.5, 0.35),
                              (0.5, 0.5, 0.55), (0.75, 0.6, 0.35))
"""Upholstery colours of sofas, beds and some chairs."""
PAINTS: tuple[Color, ...] = ((0.92, 0.92, 0.9), (0.2, 0.2, 0.22), (0.6, 0.7, 0.8),
                             (0.85, 0.8, 0.65))
"""Lacquered colours (cabinets, chairs)."""


def _pick(colors: tuple[Color, ...], gen: torch.Generator, jitter: float = 0.06) -> Color:
    """One of ``colors`` with a small per-instance brightness and hue variation."""
    base = torch.tensor(colors[int(torch.randint(len(colors), (1,), generator=gen))])
    scale = 1.0 + jitter * (2 * torch.rand(1, generator=gen) - 1)
    tint = jitter * 0.5 * (2 * torch.rand(3, generator=gen) - 1)
    return tuple(float(v) for v in (base * scale + tint).clamp(0.02, 0.98))


def _legs(dx: float, dy: float, height: float, width: float, color: Color, kind: str = "box"
          ) -> list[Part]:
    """Four legs of ``width`` at the corners of a ``dx x dy`` footprint, from the floor up."""
    ox, oy = dx / 2 - width / 2, dy / 2 - width / 2
    return [Part(kind, (sx * ox, sy * oy, height / 2), (width, width, height), color)
            for sx in (-1, 1) for sy in (-1, 1)]


def chair_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """Seat on four legs and a backrest at -y."""
    dx, dy, dz = size
    color = _pick(WOODS + PAINTS, gen)
    seat_h = 0.5 * dz
    back = _pick((color,) + FABRICS, gen)
    return [*_legs(dx, dy, seat_h - 0.05, 0.045, color, "cylinder"),
            Part("box", (0.0, 0.0, seat_h - 0.025), (dx, dy, 0.05), _pick(FABRICS, gen)),
            Part("box", (0.0, -dy / 2 + 0.03, (seat_h + dz) / 2), (dx, 0.06, dz - seat_h), back)]


def table_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """Top slab on four square legs."""
    dx, dy, dz = size
    color = _pick(WOODS + PAINTS[:2], gen)
    return [Part("box", (0.0, 0.0, dz - 0.025), (dx, dy, 0.05), color, "grain"),
            *_legs(dx - 0.06, dy - 0.06, dz - 0.05, 0.06, color)]


def bed_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """Frame, mattress, pillow and a headboard at -x."""
    dx, dy, dz = size
    frame = _pick(WOODS, gen)
    sheet = _pick(FABRICS + PAINTS[:1], gen)
    return [Part("box", (0.05, 0.0, 0.15), (dx - 0.1, dy, 0.3), frame, "grain"),
            Part("box", (0.07, 0.0, 0.4), (dx - 0.18, dy - 0.06, 0.2), sheet, "checker"),
            Part("box", (-dx / 2 + 0.35, 0.0, 0.55), (0.35, dy * 0.7, 0.1), (0.93, 0.93, 0.9)),
            Part("box", (-dx / 2 + 0.05, 0.0, dz / 2), (0.1, dy, dz), frame, "grain")]


def sofa_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """Seat block, backrest at -y and two arms."""
    dx, dy, dz = size
    color = _pick(FABRICS, gen)
    arm = 0.18
    return [Part("box", (0.0, 0.05, 0.22), (dx - 2 * arm, dy - 0.1, 0.44), color, "checker"),
            Part("box", (0.0, -dy / 2 + 0.1, dz / 2), (dx, 0.2, dz), color),
            Part("box", (-dx / 2 + arm / 2, 0.05, 0.3), (arm, dy - 0.1, 0.6), color),
            Part("box", (dx / 2 - arm / 2, 0.05, 0.3), (arm, dy - 0.1, 0.6), color)]


def cabinet_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """A closed body with drawer stripes and a plinth."""
    dx, dy, dz = size
    color = _pick(WOODS + PAINTS, gen)
    return [Part("box", (0.0, 0.0, 0.04), (dx - 0.04, dy - 0.04, 0.08), (0.15, 0.15, 0.15)),
            Part("box", (0.0, 0.0, 0.08 + (dz - 0.08) / 2), (dx, dy, dz - 0.08), color,
                 "stripes")]


def bookshelf_parts(size: Size, gen: torch.Generator) -> list[Part]:
    """Side panels, back panel, shelf boards, and a row of coloured books on each shelf."""
    dx, dy, dz = size
    color = _pick(WOODS, gen)
    board = 0.03
    parts = [Part("box", (sx * (dx / 2 - board / 2), 0.0, dz / 2), (board, dy, dz), color)
             for sx in (-1, 1)]
    parts.append(Part("box", (0.0, -dy / 2 + 0.01, dz / 2), (dx - 2 * board, 0.02, dz), color,
                      "grain"))
    shelves = 4
    gap = (dz - board) / shelves
    for k in range(shelves + 1):
        parts.append(Part("box", (0.0, 0.0, board / 2 + k * gap), (dx - 2 * board, dy, board),
                          color))
    for k in range(shelves):
        x = -dx / 2 + board
        while True:
            w = float(0.03 + 0.05 * torch.rand(1, generator=gen))
            if x + w > dx / 2 - board:
                break
            h = float(gap * (0.55 + 0.35 * torch.rand(1, generator=gen)))
            book = tuple(float(v) for v in 0.15 + 0.75 * torch.rand(3, generator=gen))
            parts.append(Part("box", (x + w / 2, 0.02, board + k * gap + h / 2),
                              (w, dy * 0.8, h), book))
            x += w
    return parts


@dataclass(frozen=True)
class Template:
    """How to draw one class: size ranges (full metres) and the part builder."""

    size_min: Size
    """Smallest ``(dx, dy, dz)``."""
    size_max: Size
    """Largest ``(dx, dy, dz)``; each extent is uniform in its range."""
    parts: Callable[[Size, torch.Generator], list[Part]]
    """``(size, generator) -> parts`` in the local frame (see the module docstring)."""

    def sample_size(self, gen: torch.Generator) -> Size:
        """A random size in the template's ranges."""
        u = torch.rand(3, generator=gen, dtype=torch.float64)
        lo, hi = torch.tensor(self.size_min, dtype=torch.float64), torch.tensor(
            self.size_max, dtype=torch.float64)
        return tuple(float(v) for v in lo + u * (hi - lo))


TEMPLATES: dict[str, Template] = {
    "cabinet": Template((0.5, 0.4, 0.8), (1.0, 0.6, 1.2), cabinet_parts),
    "bed": Template((1.9, 1.0, 0.85), (2.1, 1.6, 1.1), bed_parts),
    "chair": Template((0.42, 0.42, 0.8), (0.55, 0.55, 1.0), chair_parts),
    "sofa": Template((1.5, 0.8, 0.75), (2.2, 0.95, 0.9), sofa_parts),
    "table": Template((0.8, 0.6, 0.7), (1.6, 0.9, 0.78), table_parts),
    "bookshelf": Template((0.7, 0.28, 1.6), (1.0, 0.4, 2.0), bookshelf_parts),
}
"""Class name -> template, in the order of :data:`ROOM_CLASSES`."""

ROOM_CLASSES: tuple[str, ...] = tuple(TEMPLATES)
"""The benchmark's class tuple (ScanNet names, a subset of VoteNet's 18 classes)."""
