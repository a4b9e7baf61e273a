"""Summary statistics of a Gaussian scene (what ``splat3d info`` prints) and a finiteness check.

Statistics are of activated values, the quantities a reader reasons about: opacity
``sigmoid(opacity_logits)`` and per-axis standard deviation ``exp(log_scales)``. They are
computed in float64 with numpy so the median is the true median (mean of the middle two
for an even count) at any scene size.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch

from splat3d.gaussians import Gaussians


class Spread(TypedDict):
    """Minimum, median and maximum of a set of values."""

    min: float
    median: float
    max: float


class GaussianStats(TypedDict):
    """What :func:`describe_gaussians` returns; ranges are ``None`` for an empty scene."""

    count: int
    """Number of Gaussians."""
    sh_degree: int
    """Spherical-harmonics degree (0..3)."""
    bounds_min: tuple[float, float, float] | None
    """Per-axis minimum of the centres."""
    bounds_max: tuple[float, float, float] | None
    """Per-axis maximum of the centres."""
    opacity: Spread | None
    """Of ``sigmoid(opacity_logits)``, one value per Gaussian."""
    scale: Spread | None
    """Of ``exp(log_scales)``, all three axes of every Gaussian pooled."""


def describe_gaussians(gaussians: Gaussians) -> GaussianStats:
    """Count, SH degree, centre bounds and opacity/scale spreads of ``gaussians``.

    Example:
        >>> s = describe_gaussians(Gaussians.random_box(100, extent=1.0, opacity=0.5))
        >>> s["count"], s["sh_degree"], round(s["opacity"]["median"], 6)
        (100, 3, 0.5)
    """
    g = gaussians.detach().to("cpu", torch.float64)
    stats = GaussianStats(count=len(g), sh_degree=g.sh_degree, bounds_min=None,
                          bounds_max=None, opacity=None, scale=None)
    if len(g) == 0:
        return stats
    means = g.means.numpy()
    stats["bounds_min"] = _triple(means.min(axis=0))
    stats["bounds_max"] = _triple(means.max(axis=0))
    stats["opacity"] = _spread(g.opacities.numpy())
    stats["scale"] = _spread(g.scales.numpy())
    return stats


def format_description(stats: GaussianStats, title: str | None = None) -> str:
    """A short plain-text table of :func:`describe_gaussians` output (no colour codes).

    Example:
        >>> print(format_description(describe_gaussians(Gaussians.empty(0)), title="empty"))
        empty
        Gaussians    0
        SH degree    0
    """
    lines = [title] if title else []
    lines += [f"{'Gaussians':<12} {stats['count']:,}", f"{'SH degree':<12} {stats['sh_degree']}"]
    if stats["bounds_min"] is not None and stats["bounds_max"] is not None:
        lines.append(_row("", ("x", "y", "z")))
        lines.append(_row("bounds min", [f"{v:.4g}" for v in stats["bounds_min"]]))
        lines.append(_row("bounds max", [f"{v:.4g}" for v in stats["bounds_max"]]))
    if stats["opacity"] is not None and stats["scale"] is not None:
        lines.append(_row("", ("min", "median", "max")))
        for name in ("opacity", "scale"):
            spread = stats[name]
            lines.append(_row(name, [f"{spread[k]:.4g}" for k in ("min", "median", "max")]))
    return "\n".join(lines)


def first_non_finite(gaussians: Gaussians) -> tuple[str, int] | None:
    """``(field, index)`` of the first Gaussian with a NaN/Inf parameter, scanning fields in
    declaration order, or ``None`` when every parameter is finite."""
    for name, tensor in gaussians.tensors().items():
        finite = torch.isfinite(tensor.detach())
        bad = ~(finite.flatten(1).all(dim=1) if finite.ndim > 1 else finite)
        if bool(bad.any()):
            return name, int(bad.nonzero()[0, 0])
    return None


def _spread(values: np.ndarray) -> Spread:
    return Spread(min=float(values.min()), median=float(np.median(values)),
                  max=float(values.max()))


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _row(label: str, cells: tuple[str, ...] | list[str]) -> str:
    return f"{label:<12}" + "".join(f" {c:>11}" for c in cells)
