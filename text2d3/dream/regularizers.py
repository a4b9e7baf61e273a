"""Regularisers on the Gaussians during distillation, against floaters and needles.

* :func:`opacity_penalty` -- mean binary entropy of the opacities,
  ``-o log o - (1-o) log(1-o)``: pushes each Gaussian to be either solid or gone, so
  half-transparent haze that the prior cannot see well does not linger (the entropy regulariser
  of DreamGaussian / threestudio's 3DGS system); semi-transparent detail survives when the
  distillation gradient keeps it.
* :func:`scale_penalty` -- mean squared excess of each Gaussian's largest scale over
  ``max_scale`` (world units): big blobs blur the silhouette and oversized ones become
  floaters; below the threshold nothing is penalised.

Example:
    >>> logits = torch.zeros(4)
    >>> round(float(opacity_penalty(logits)), 4)  # entropy of 0.5 in nats
    0.6931
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


@dataclass(frozen=True)
class RegularizerConfig:
    """Weights of the regularisers (0 switches one off)."""

    opacity_entropy: float = 0.0
    """Weight of :func:`opacity_penalty`."""
    scale: float = 0.0
    """Weight of :func:`scale_penalty`."""
    max_scale: float = 0.08
    """Largest scale (standard deviation, world units) that costs nothing."""

    def loss(self, opacity_logits: Float[Tensor, " N"], log_scales: Float[Tensor, "N 3"]) -> Tensor:
        """The weighted sum of the enabled penalties (a zero tensor when none is)."""
        total = opacity_logits.new_zeros(())
        if self.opacity_entropy:
            total = total + self.opacity_entropy * opacity_penalty(opacity_logits)
        if self.scale:
            total = total + self.scale * scale_penalty(log_scales, self.max_scale)
        return total


def opacity_penalty(opacity_logits: Float[Tensor, " N"]) -> Tensor:
    """Mean binary entropy (nats) of ``sigmoid(opacity_logits)``, computed from the logits
    (``H = softplus(l) - l sigmoid(l)``) so it stays finite for saturated opacities."""
    if opacity_logits.numel() == 0:
        return opacity_logits.new_zeros(())
    o = torch.sigmoid(opacity_logits)
    return (F.softplus(opacity_logits) - opacity_logits * o).mean()


def scale_penalty(log_scales: Float[Tensor, "N 3"], max_scale: float) -> Tensor:
    """Mean of ``relu(max(exp(log_scales)) - max_scale)^2`` over the Gaussians."""
    if log_scales.numel() == 0:
        return log_scales.new_zeros(())
    largest = torch.exp(log_scales).amax(-1)
    return F.relu(largest - max_scale).square().mean()
