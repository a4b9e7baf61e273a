"""Detection losses: focal loss (class), BCE (centerness), 3D IoU loss (boxes).

FCAF3D (Rukhovich et al., 2022, Sec. 3.2) trains with

    L = 1/n_pos * sum_all focal(class) + 1/n_pos * sum_pos [BCE(centerness) + L_IoU(box)]

* Focal loss: Lin et al., 2017, "Focal Loss for Dense Object Detection", Eq. 5, sigmoid form
  with ``alpha = 0.25``, ``gamma = 2``, summed over classes and divided by the number of
  positives.
* Axis-aligned IoU loss ``1 - IoU``: the IoU of two axis-aligned boxes in closed form
  (product of three interval overlaps over the union volume), differentiable almost
  everywhere (:func:`aligned_box_iou`).
* Boxes with yaw: the exact IoU of two rotated boxes is a polygon clip whose gradient is
  awkward; FCAF3D instead regresses the Mobius-parametrised yaw inside the IoU loss. Here the
  choice is simpler and stated plainly: the predicted box is expressed in the ground truth's
  frame - its centre offset rotated by ``-yaw_gt`` - and compared there as if axis-aligned
  (IoU of the sizes and offsets, which is the exact IoU when the yaws agree), plus a yaw term
  ``1 - cos(2 (yaw_pred - yaw_gt))`` (0 when the yaws agree up to ``pi``) that drives the
  orientation (:func:`rotated_box_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from detection.model.box_coding import rotate_z


def focal_loss(
    logits: Float[Tensor, "P K"], targets: Float[Tensor, "P K"], alpha: float = 0.25,
    gamma: float = 2.0,
) -> Float[Tensor, ""]:
    """Sigmoid focal loss summed over every entry (Lin et al., 2017, Eq. 5).

    ``targets`` are one-hot (all zero for background). Divide by the positive count outside.
    """
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).sum()


def aligned_box_iou(
    a: Float[Tensor, "P 6"], b: Float[Tensor, "P 6"], eps: float = 1e-9
) -> Float[Tensor, " P"]:
    """IoU of paired axis-aligned boxes ``(cx, cy, cz, dx, dy, dz)``, differentiable.

    Example:
        >>> aligned_box_iou(torch.tensor([[0.0, 0, 0, 2, 2, 2]]),
        ...                 torch.tensor([[1.0, 0, 0, 2, 2, 2]]))
        tensor([0.3333])
    """
    lo = torch.maximum(a[:, :3] - a[:, 3:] / 2, b[:, :3] - b[:, 3:] / 2)
    hi = torch.minimum(a[:, :3] + a[:, 3:] / 2, b[:, :3] + b[:, 3:] / 2)
    inter = (hi - lo).clamp_min(0.0).prod(dim=1)
    union = a[:, 3:].prod(dim=1) + b[:, 3:].prod(dim=1) - inter
    return inter / union.clamp_min(eps)


def rotated_box_loss(
    pred: Float[Tensor, "P 7"], target: Float[Tensor, "P 7"], with_yaw: bool
) -> Float[Tensor, " P"]:
    """Box loss per pair: ``1 - IoU`` (axis-aligned), or with ``with_yaw`` ``1 - IoU`` in the
    target's frame plus ``1 - cos(2 * (yaw_pred - yaw_target))`` (see the module docstring).
    """
    if not with_yaw:
        return 1.0 - aligned_box_iou(pred[:, :6], target[:, :6])
    offset = rotate_z(pred[:, :3] - target[:, :3], -target[:, 6])
    in_frame = torch.cat([offset, pred[:, 3:6]], dim=1)
    origin = torch.cat([torch.zeros_like(offset), target[:, 3:6]], dim=1)
    iou = aligned_box_iou(in_frame, origin)
    return 1.0 - iou + (1.0 - torch.cos(2.0 * (pred[:, 6] - target[:, 6])))
