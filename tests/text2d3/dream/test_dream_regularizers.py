"""Regularisers and backgrounds against float64 brute force."""

from __future__ import annotations

import torch

from text2d3.dream.background import Background, BackgroundConfig
from text2d3.dream.regularizers import RegularizerConfig, opacity_penalty, scale_penalty


def test_opacity_entropy_and_gradient_match_the_naive_formula() -> None:
    logits = torch.tensor([-3.0, -0.2, 0.0, 0.7, 4.0], dtype=torch.float64, requires_grad=True)
    o = torch.sigmoid(logits)
    naive = (-(o * o.log() + (1 - o) * (1 - o).log())).mean()
    (g_naive,) = torch.autograd.grad(naive, logits)
    ours = opacity_penalty(logits)
    (g_ours,) = torch.autograd.grad(ours, logits)
    torch.testing.assert_close(ours, naive)
    torch.testing.assert_close(g_ours, g_naive)
    assert torch.isfinite(opacity_penalty(torch.tensor([80.0, -80.0]))).all()


def test_scale_penalty_matches_brute_force() -> None:
    log_scales = torch.log(torch.tensor([[0.01, 0.02, 0.03], [0.2, 0.05, 0.01],
                                         [0.1, 0.15, 0.12]], dtype=torch.float64))
    expected = sum(max(0.0, max(row) - 0.1) ** 2 for row in log_scales.exp().tolist()) / 3
    assert float(scale_penalty(log_scales, 0.1)) == expected
    cfg = RegularizerConfig(opacity_entropy=2.0, scale=3.0, max_scale=0.1)
    logits = torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(cfg.loss(logits, log_scales),
                               2.0 * opacity_penalty(logits) + 3.0 * expected)
    assert float(RegularizerConfig().loss(logits, log_scales)) == 0.0


def test_backgrounds() -> None:
    g = torch.Generator().manual_seed(0)
    fixed = Background(BackgroundConfig(colour=(0.1, 0.2, 0.3)))
    assert fixed.parameters() == []
    torch.testing.assert_close(fixed.colours(2, g), torch.tensor([[0.1, 0.2, 0.3]] * 2))
    rand = Background(BackgroundConfig(kind="random")).colours(50, g)
    assert rand.shape == (50, 3) and float(rand.std()) > 0.1
    learned = Background(BackgroundConfig(kind="learned", colour=(0.5, 0.25, 0.75)))
    colours = learned.colours(3, g)
    torch.testing.assert_close(colours[0], torch.tensor([0.5, 0.25, 0.75]))
    colours.sum().backward()
    assert learned.parameters()[0].grad is not None
