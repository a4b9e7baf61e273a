"""A small convolutional autoencoder: the first stage of the embedded latent prior.

The two-stage recipe of latent diffusion (Rombach et al. 2022, Sec. 3): an autoencoder maps
images to a smaller latent grid, a diffusion model learns the latents. Ours folds a 32 x 32 RGB
image into a 4-channel 8 x 8 grid (factor 4; SD uses 8) with plain convolutions. It is a
deterministic autoencoder trained with an L2 reconstruction loss plus a small L2 penalty on the
latents (in place of the paper's KL term); :attr:`Autoencoder.latent_scale` then rescales the
latents to unit variance, the role of SD's ``scaling_factor`` (Rombach et al. 2022, Sec. 4.3.2).

Example:
    >>> ae = Autoencoder(AutoencoderConfig())
    >>> ae.encode(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 4, 8, 8])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn


@dataclass(frozen=True)
class AutoencoderConfig:
    """Shape of an :class:`Autoencoder`."""

    latent_channels: int = 4
    """Channels of the latent grid."""
    width: int = 64
    """Channels of the hidden convolutions."""
    levels: int = 2
    """Number of stride-2 stages; the latent side is ``image side / 2^levels``."""


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


class Autoencoder(nn.Module):
    """Images in ``[-1, 1]`` ``[B, 3, H, W]`` to latents ``[B, C, H/f, W/f]`` and back."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        enc: list[nn.Module] = [_block(3, w)]
        dec: list[nn.Module] = [_block(config.latent_channels, w)]
        for _ in range(config.levels):
            enc += [nn.Conv2d(w, w, 3, stride=2, padding=1), _block(w, w)]
            dec += [nn.Upsample(scale_factor=2.0), _block(w, w)]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(w, config.latent_channels, 1))
        self.decoder = nn.Sequential(*dec, nn.Conv2d(w, 3, 3, padding=1))
        self.register_buffer("latent_scale", torch.ones(()))

    @property
    def downsample(self) -> int:
        return 2**self.config.levels

    def encode(self, images: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B C h w"]:
        """Scaled latents (unit variance over the training set)."""
        return self.encoder(images) * self.latent_scale

    def decode(self, latents: Float[Tensor, "B C h w"]) -> Float[Tensor, "B 3 H W"]:
        """Images in about ``[-1, 1]`` from scaled latents."""
        return self.decoder(latents / self.latent_scale)
