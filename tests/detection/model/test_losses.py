"""Detection losses against closed forms and the evaluation's exact 3D IoU."""

from __future__ import annotations

import math

import numpy as np
import torch

from detection.eval import paired_box_iou_3d
from detection.model.losses import aligned_box_iou, focal_loss, rotated_box_loss


def _pairs(n: int, seed: int, yaw: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.cat([torch.rand(n, 3, generator=g, dtype=torch.float64),
                   torch.rand(n, 3, generator=g, dtype=torch.float64) + 0.3,
                   torch.zeros(n, 1, dtype=torch.float64)], dim=1)
    b = a.clone()
    b[:, :3] += 0.4 * (torch.rand(n, 3, generator=g, dtype=torch.float64) - 0.5)
    b[:, 3:6] *= 0.5 + torch.rand(n, 3, generator=g, dtype=torch.float64)
    if yaw:
        b[:, 6] = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * math.pi
        a[:, 6] = b[:, 6]
    return a, b


def test_aligned_iou_equals_exact_iou():
    a, b = _pairs(200, 0, yaw=False)
    b[:50, 0] += 3.0  # some disjoint pairs
    exact = paired_box_iou_3d(a.numpy(), b.numpy())
    np.testing.assert_allclose(aligned_box_iou(a[:, :6], b[:, :6]).numpy(), exact, atol=1e-12)


def test_aligned_iou_gradient_gradcheck():
    a, b = _pairs(12, 1, yaw=False)
    a = a[:, :6].clone().requires_grad_()
    b = b[:, :6].clone().requires_grad_()
    assert torch.autograd.gradcheck(aligned_box_iou, (a, b), eps=1e-6, atol=1e-7)


def test_aligned_iou_gradient_matches_finite_differences_of_exact_iou():
    a, b = _pairs(6, 2, yaw=False)
    a6 = a[:, :6].clone().requires_grad_()
    aligned_box_iou(a6, b[:, :6]).sum().backward()
    eps = 1e-6
    for j in range(6):
        up, down = a.clone(), a.clone()
        up[:, j] += eps
        down[:, j] -= eps
        fd = (paired_box_iou_3d(up.numpy(), b.numpy())
              - paired_box_iou_3d(down.numpy(), b.numpy())) / (2 * eps)
        np.testing.assert_allclose(a6.grad[:, j].numpy(), fd, atol=1e-6)


def test_rotated_loss_is_one_minus_exact_iou_when_yaws_agree():
    a, b = _pairs(100, 3, yaw=True)
    exact = paired_box_iou_3d(a.numpy(), b.numpy())
    loss = rotated_box_loss(a, b, with_yaw=True)
    np.testing.assert_allclose(loss.numpy(), 1 - exact, atol=1e-10)


def test_rotated_loss_yaw_term_and_pi_symmetry():
    a, b = _pairs(20, 4, yaw=True)
    turned = a.clone()
    turned[:, 6] += math.pi  # the same boxes
    torch.testing.assert_close(rotated_box_loss(turned, b, True), rotated_box_loss(a, b, True))
    off = a.clone()
    off[:, 6] += 0.3
    same_frame = rotated_box_loss(a, b, True)
    expected = same_frame + (1 - math.cos(0.6))
    torch.testing.assert_close(rotated_box_loss(off, b, True), expected)
    assert torch.autograd.gradcheck(
        lambda p: rotated_box_loss(p, b, True), (off.clone().requires_grad_(),), atol=1e-7)


def test_focal_loss_matches_formula():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(30, 4, generator=g, dtype=torch.float64)
    targets = torch.zeros(30, 4, dtype=torch.float64)
    targets[torch.arange(10), torch.randint(4, (10,), generator=g)] = 1
    expected = 0.0
    for x, t in zip(logits.flatten().tolist(), targets.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        if t == 1:
            expected += -0.25 * (1 - p) ** 2 * math.log(p)
        else:
            expected += -0.75 * p ** 2 * math.log(1 - p)
    assert math.isclose(float(focal_loss(logits, targets)), expected, rel_tol=1e-10)
