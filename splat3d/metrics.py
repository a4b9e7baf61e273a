"""Image-quality metrics: PSNR and SSIM on channel-last float images in [0, 1].

SSIM follows Wang et al., "Image Quality Assessment: From Error Visibility to Structural
Similarity", IEEE TIP 2004: local statistics under an 11x11 Gaussian window (sigma 1.5),
``K1 = 0.01``, ``K2 = 0.03``, computed per colour channel over the *valid* window positions
(no padding, as in the authors' reference code) and averaged. The same function is the
training loss term of 3D Gaussian Splatting (Kerbl et al., 2023), so it is differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(
    pred: Float[Tensor, "*B H W C"], target: Float[Tensor, "*B H W C"], data_range: float = 1.0
) -> Float[Tensor, "*B"]:
    """Peak signal-to-noise ratio ``10 log10(range^2 / MSE)`` in dB, one value per image.

    Example:
        >>> x = torch.zeros(2, 8, 8, 3)
        >>> psnr(x + 0.1, x).round()
        tensor([20., 20.])
    """
    _check_pair(pred, target, "psnr")
    mse = (pred - target).square().flatten(-3).mean(-1)
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-20))


SSIM_WINDOW = 11
"""Side of the SSIM window in pixels (Wang et al. 2004)."""


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = 1.5,
                    dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> Float[Tensor, " S"]:
    """Normalised 1D Gaussian weights; the 2D SSIM window is their outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    w = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (w / w.sum()).to(dtype=dtype, device=device)


def ssim_map(
    pred: Float[Tensor, "*B H W C"], target: Float[Tensor, "*B H W C"],
    data_range: float = 1.0, window_size: int = SSIM_WINDOW, sigma: float = 1.5,
) -> Float[Tensor, "*B h w C"]:
    """Local SSIM at every valid window position, ``h = H - window_size + 1`` (same for w).

    Raises:
        ValueError: if the shapes differ or the images are smaller than the window.
    """
    _check_pair(pred, target, "ssim")
    H, W, C = pred.shape[-3:]
    if H < window_size or W < window_size:
        raise ValueError(f"ssim: images of {H}x{W} pixels are smaller than the "
                         f"{window_size}x{window_size} window")
    batch = pred.shape[:-3]
    x = pred.reshape(-1, H, W, C).permute(0, 3, 1, 2).reshape(-1, 1, H, W)  # [B*C, 1, H, W]
    y = target.reshape(-1, H, W, C).permute(0, 3, 1, 2).reshape(-1, 1, H, W)
    w = gaussian_window(window_size, sigma, pred.dtype, pred.device)

    def blur(t: Tensor) -> Tensor:  # separable: rows then columns
        t = F.conv2d(t, w.view(1, 1, 1, -1))
        return F.conv2d(t, w.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    h, w_ = s.shape[-2:]
    return s.reshape(-1, C, h, w_).permute(0, 2, 3, 1).reshape(*batch, h, w_, C)


def ssim(
    pred: Float[Tensor, "*B H W C"], target: Float[Tensor, "*B H W C"],
    data_range: float = 1.0, window_size: int = SSIM_WINDOW, sigma: float = 1.5,
) -> Float[Tensor, "*B"]:
    """Mean SSIM per image (Wang et al., 2004), differentiable; 1 for identical images.

    Example:
        >>> x = torch.rand(2, 32, 32, 3)
        >>> ssim(x, x)
        tensor([1., 1.])
    """
    return ssim_map(pred, target, data_range, window_size, sigma).flatten(-3).mean(-1)


def _check_pair(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {tuple(pred.shape)} != target shape "
                         f"{tuple(target.shape)}")
    if pred.ndim < 3:
        raise ValueError(f"{name}: images must be [..., H, W, C], got shape {tuple(pred.shape)}")
