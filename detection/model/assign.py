"""FCAF3D target assignment: which locations learn which ground-truth box, and centerness.

Rukhovich et al., 2022 ("FCAF3D: Fully Convolutional Anchor-Free 3D Object Detection",
Sec. 3.3) assign boxes to locations in three steps, which :func:`assign_targets` follows:

1. a location is a candidate for a box when it lies inside it;
2. each box is handled by one level: going from the finest level to coarser ones, the last
   level that still has at least ``min_locations`` locations inside the box (the finest
   level when even that has fewer) - large boxes go to coarse levels, small ones to fine;
3. of the candidates on that level, only the ``top_k`` of highest centerness are kept.

A location that is a kept candidate of several boxes learns the smallest one (by volume).
Boxes with no location inside at all (an object smaller than a voxel or missing from the
scene's Gaussians) would get no positive; they get the single finest-level location nearest
their centre instead, so that every box is trained on.

Centerness (FCOS, Tian et al. 2019; 3D as in FCAF3D) of a location with face distances
``d`` is ``sqrt(prod_axes min(d-, d+) / max(d-, d+))``: 1 at the centre, 0 on a face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from detection.model.box_coding import face_distances


@dataclass(frozen=True)
class AssignConfig:
    """The two knobs of FCAF3D's assignment."""

    min_locations: int = 6
    """A box moves to a coarser level only while that level keeps at least this many of its
    locations inside the box (FCAF3D's ``pts_assign_threshold``; 27 there at 1 cm x 8
    strides, fewer here on a coarse grid)."""
    top_k: int = 18
    """Positives kept per box, by centerness (FCAF3D's ``pts_center_threshold``)."""


@dataclass
class AssignedTargets:
    """Per-location training targets of one scene (locations of all levels, concatenated)."""

    labels: Int[Tensor, " P"]
    """Class index of the assigned box, or -1 for background."""
    box_index: Int[Tensor, " P"]
    """Index of the assigned ground-truth box, or -1."""
    centerness: Float[Tensor, " P"]
    """Centerness target (0 for background)."""


def centerness(distances: Float[Tensor, "*B 6"]) -> Float[Tensor, "*B"]:
    """``sqrt(prod_axes min / max)`` of face distances, 0 where any distance is <= 0.

    Example:
        >>> centerness(torch.tensor([1.0, 1.0, 1.0, 3.0, 2.0, 2.0]))
        tensor(0.5774)
    """
    d = distances.clamp_min(0.0)
    minus, plus = d[..., 0::2], d[..., 1::2]
    ratio = torch.minimum(minus, plus) / torch.maximum(minus, plus).clamp_min(1e-12)
    return torch.sqrt(ratio.prod(dim=-1))


def assign_targets(
    locations: Sequence[Float[Tensor, "L 3"]],
    boxes: Float[Tensor, "G 7"],
    labels: Int[Tensor, " G"],
    config: AssignConfig = AssignConfig(),
) -> AssignedTargets:
    """Assign ground-truth ``boxes`` to the ``locations`` of each level (finest first)."""
    points = torch.cat(list(locations))  # [P, 3]
    n_points, n_boxes = points.shape[0], boxes.shape[0]
    device = points.device
    level = torch.cat([torch.full((len(p),), i, device=device) for i, p in enumerate(locations)])
    none = torch.full((n_points,), -1, dtype=torch.long, device=device)
    if n_boxes == 0 or n_points == 0:
        return AssignedTargets(none, none.clone(), points.new_zeros(n_points))

    dist = face_distances(points[:, None], boxes[None].to(points))  # [P, G, 6]
    inside = dist.min(dim=-1).values > 0  # [P, G]

    counts = torch.stack([inside[level == i].sum(0) for i in range(len(locations))])  # [V, G]
    too_few = counts < config.min_locations
    chosen = too_few.int().argmax(dim=0) - 1  # the level before the first with too few
    chosen = torch.where(too_few.any(dim=0), chosen.clamp_min(0), len(locations) - 1)

    ctr = centerness(dist)  # [P, G]
    candidate = inside & (level[:, None] == chosen[None, :])
    scored = torch.where(candidate, ctr, torch.full_like(ctr, -1.0))
    k = min(config.top_k, n_points)
    kth = scored.topk(k, dim=0).values[-1]  # [G] k-th best centerness per box
    candidate &= scored >= kth[None, :]

    orphans = ~candidate.any(dim=0)
    finest = torch.nonzero(level == 0)[:, 0]
    if orphans.any() and len(finest) > 0:
        gap = torch.cdist(boxes[orphans, :3].to(points), points[finest])  # [O, L0]
        nearest = finest[gap.argmin(dim=1)]
        candidate[nearest, torch.nonzero(orphans)[:, 0]] = True

    volume = boxes[:, 3:6].prod(dim=1).to(points)
    cost = torch.where(candidate, volume[None, :], torch.full_like(ctr, torch.inf))
    best_cost, best = cost.min(dim=1)
    positive = torch.isfinite(best_cost)
    box_index = torch.where(positive, best, none)
    target_labels = torch.where(positive, labels.to(best)[best], none)
    target_ctr = torch.where(positive, ctr.gather(1, best[:, None])[:, 0], 0.0)
    return AssignedTargets(target_labels, box_index, target_ctr)
