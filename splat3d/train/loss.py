"""The 3DGS photometric loss ``(1 - λ) L1 + λ (1 - SSIM)`` (Kerbl et al., 2023, Eq. 7)."""

from __future__ import annotations

from dataclasses import dataclass

from jaxtyping import Float
from torch import Tensor

from splat3d.metrics import ssim


@dataclass
class LossTerms:
    """The total loss (with graph) and its parts (detached) for logging."""

    total: Tensor
    l1: Tensor
    ssim: Tensor
    alpha_l1: Tensor | None = None


def reconstruction_loss(
    pred: Float[Tensor, "C H W 3"], target: Float[Tensor, "C H W 3"], ssim_lambda: float = 0.2,
    pred_alpha: Float[Tensor, "C H W 1"] | None = None,
    target_alpha: Float[Tensor, "C H W 1"] | None = None, alpha_weight: float = 0.0,
) -> LossTerms:
    """L1 + D-SSIM between a render and its ground truth, plus optional alpha supervision.

    ``D-SSIM`` is taken as ``1 - SSIM`` as in the 3DGS reference code; with ``alpha_weight > 0``
    an L1 term between rendered and ground-truth alpha (an object mask) is added.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 16, 16, 3)
        >>> float(reconstruction_loss(x, x).total)
        0.0
    """
    l1 = (pred - target).abs().mean()
    s = ssim(pred, target).mean()
    total = (1.0 - ssim_lambda) * l1 + ssim_lambda * (1.0 - s)
    alpha_l1 = None
    if alpha_weight > 0.0:
        if pred_alpha is None or target_alpha is None:
            raise ValueError("reconstruction_loss: alpha_weight > 0 needs both rendered and "
                             "ground-truth alpha")
        alpha_l1 = (pred_alpha - target_alpha).abs().mean()
        total = total + alpha_weight * alpha_l1
        alpha_l1 = alpha_l1.detach()
    return LossTerms(total, l1.detach(), s.detach(), alpha_l1)
