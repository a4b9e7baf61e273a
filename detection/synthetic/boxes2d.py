"""Per-view 2D detections for box-focused sampling, from ground-truth masks plus noise.

3DGS-DET (Cao et al., 2024, Sec. 3.4) lifts the boxes of a 2D detector to frustums. The
synthetic benchmark has no 2D detector; feeding the exact mask boxes with score 1 would make
box-focused sampling an oracle. :func:`noisy_detections` instead imitates a decent detector:
every ground-truth box is missed with probability ``drop``, the kept ones have each edge
moved by Gaussian noise of ``jitter`` times the box's width / height and a score uniform in
``score_range``, and each view gets on average ``false_positives`` spurious boxes (a random
rectangle of 10-40 % of the image side) with a score uniform in ``false_score_range``.

Example:
    >>> gen = torch.Generator().manual_seed(0)
    >>> boxes, scores = noisy_detections(torch.tensor([[10., 10., 30., 40.]]), 64, 48,
    ...                                  BoxNoise(drop=0.0, false_positives=0.0), gen)
    >>> boxes.shape, bool(0.6 <= scores[0] <= 1.0)
    (torch.Size([1, 4]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor


@dataclass(frozen=True)
class BoxNoise:
    """How the simulated 2D detector departs from the ground-truth boxes."""

    jitter: float = 0.1
    """Standard deviation of each edge's shift, as a fraction of the box width / height."""
    drop: float = 0.1
    """Probability that a ground-truth box is missed."""
    score_range: tuple[float, float] = (0.6, 1.0)
    """Scores of detected objects, uniform in this range."""
    false_positives: float = 0.3
    """Mean number of spurious boxes per view (Poisson)."""
    false_score_range: tuple[float, float] = (0.05, 0.4)
    """Scores of the spurious boxes, uniform in this range."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop <= 1.0:
            raise ValueError(f"BoxNoise.drop must be in [0, 1], got {self.drop}")
        if self.jitter < 0 or self.false_positives < 0:
            raise ValueError("BoxNoise.jitter and BoxNoise.false_positives must be >= 0, got "
                             f"{self.jitter} and {self.false_positives}")
        for name in ("score_range", "false_score_range"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"BoxNoise.{name} must satisfy 0 <= lo <= hi <= 1, got {lo, hi}")


def _uniform(n: int, lo_hi: tuple[float, float], gen: torch.Generator) -> Tensor:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * torch.rand(n, generator=gen)


def noisy_detections(
    boxes: Float[Tensor, "B 4"], width: int, height: int, noise: BoxNoise,
    generator: torch.Generator,
) -> tuple[Float[Tensor, "D 4"], Float[Tensor, " D"]]:
    """Simulated detections ``(boxes [D, 4], scores [D])`` of one view (see the module doc).

    Args:
        boxes: ground-truth pixel boxes ``(x0, y0, x1, y1)`` of the view.
        width, height: image size; every output box is clipped to it and has ``x0 <= x1``,
            ``y0 <= y1``.
        noise: the noise model.
        generator: random source (one per scene keeps runs reproducible).
    """
    boxes = boxes.reshape(-1, 4).float()
    keep = torch.rand(boxes.shape[0], generator=generator) >= noise.drop
    kept = boxes[keep]
    wh = (kept[:, 2:] - kept[:, :2]).repeat(1, 2)  # [K, 4] width, height, width, height
    moved = kept + noise.jitter * wh * torch.randn(kept.shape, generator=generator)
    scores = _uniform(kept.shape[0], noise.score_range, generator)
    n_false = int(torch.poisson(torch.tensor([noise.false_positives]), generator=generator))
    side = _uniform(2 * n_false, (0.1, 0.4), generator).reshape(n_false, 2) * torch.tensor(
        [float(width), float(height)])
    corner = torch.rand(n_false, 2, generator=generator) * (
        torch.tensor([float(width), float(height)]) - side)
    spurious = torch.cat([corner, corner + side], -1)
    out = torch.cat([moved, spurious])
    scale = torch.tensor([width, height, width, height], dtype=out.dtype)
    out = torch.minimum(out.clamp_min(0.0), scale)
    lo, hi = torch.minimum(out[:, :2], out[:, 2:]), torch.maximum(out[:, :2], out[:, 2:])
    return torch.cat([lo, hi], -1), torch.cat(
        [scores, _uniform(n_false, noise.false_score_range, generator)])
