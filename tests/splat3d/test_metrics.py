"""PSNR and SSIM against direct float64 formulas (Wang et al., 2004)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from splat3d.metrics import gaussian_window, psnr, ssim, ssim_map

RTOL, ATOL = 1e-5, 1e-6  # float32 separable convolution vs. float64 loops


def reference_ssim_map(x: np.ndarray, y: np.ndarray, size: int = 11, sigma: float = 1.5,
                       data_range: float = 1.0) -> np.ndarray:
    """SSIM of one [H, W] channel by explicit weighted sums over every valid window."""
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    win = np.outer(g, g)
    win /= win.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    H, W = x.shape
    out = np.empty((H - size + 1, W - size + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            px, py = x[i:i + size, j:j + size], y[i:i + size, j:j + size]
            mx, my = (win * px).sum(), (win * py).sum()
            vx = (win * (px - mx) ** 2).sum()
            vy = (win * (py - my) ** 2).sum()
            cxy = (win * (px - mx) * (py - my)).sum()
            num = (2 * mx * my + c1) * (2 * cxy + c2)
            out[i, j] = num / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return out


@pytest.mark.parametrize("batch", [(), (2,)])
def test_ssim_matches_direct_formula(batch: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(*batch, 20, 17, 3, generator=gen, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(x.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    got = ssim_map(x.float(), y.float())
    xs, ys = x.reshape(-1, 20, 17, 3).numpy(), y.reshape(-1, 20, 17, 3).numpy()
    ref = np.stack([
        np.stack([reference_ssim_map(xs[b, ..., c], ys[b, ..., c]) for c in range(3)], -1)
        for b in range(xs.shape[0])
    ]).reshape(*batch, 10, 7, 3)
    torch.testing.assert_close(got.double(), torch.from_numpy(ref), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(ssim(x.float(), y.float()).double(),
                               torch.from_numpy(ref).flatten(-3).mean(-1), rtol=RTOL, atol=ATOL)


def test_ssim_properties_and_gradient() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 24, 24, 3, generator=gen)
    assert torch.allclose(ssim(x, x), torch.ones(1))
    y = (1 - x).requires_grad_(True)
    value = ssim(y, x)
    assert value.item() < 0.5
    value.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_gaussian_window_sums_to_one() -> None:
    w = gaussian_window(11, 1.5, torch.float64)
    assert math.isclose(w.sum().item(), 1.0) and w.argmax().item() == 5


def test_psnr_formula() -> None:
    x = torch.full((2, 4, 4, 3), 0.5)
    y = x.clone()
    y[0] += 0.1
    y[1] += 0.01
    torch.testing.assert_close(psnr(y, x), torch.tensor([20.0, 40.0]), rtol=1e-4, atol=1e-3)


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        psnr(torch.zeros(4, 4, 3), torch.zeros(4, 5, 3))
    with pytest.raises(ValueError, match="smaller than"):
        ssim(torch.zeros(8, 8, 3), torch.zeros(8, 8, 3))
