"""A small conditional U-Net denoiser for the embedded priors.

The architecture follows the DDPM U-Net (Ho et al. 2020, App. B: residual blocks with GroupNorm,
a sinusoidal time embedding added inside every block, self-attention at the lowest resolution)
scaled down for CPU training. Text conditioning is a vector added to the time embedding, as in
class-conditional diffusion models (Dhariwal & Nichol 2021, Sec. 4); the caller supplies it.

Example:
    >>> net = UNet(UNetConfig(in_channels=3, base_channels=16, channel_mults=(1, 2)))
    >>> net(torch.zeros(2, 3, 16, 16), torch.zeros(2), torch.zeros(2, 64)).shape
    torch.Size([2, 3, 16, 16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a :class:`UNet`."""

    in_channels: int = 3
    """Channels of the model space (3 for pixels, the latent channels for a latent prior)."""
    base_channels: int = 32
    """Channels at full resolution."""
    channel_mults: tuple[int, ...] = (1, 2, 2)
    """Channel multiplier per resolution level; each level after the first halves the size."""
    embed_dim: int = 64
    """Width of the time + conditioning embedding (the conditioning vector's width)."""
    attention: bool = True
    """Self-attention in the middle block (lowest resolution)."""
    patch: int = 1
    """Side of the square patches folded into channels before the first convolution (and
    unfolded after the last); 2 quarters the cost of a 32 x 32 pixel model (as in Hoogeboom et
    al. 2023, "simple diffusion", Sec. 3.2)."""


def timestep_embedding(t: Float[Tensor, " B"], dim: int) -> Float[Tensor, "B D"]:
    """Sinusoidal embedding of (possibly fractional) timesteps (Vaswani et al. 2017, Sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with the embedding added in between, and a skip connection."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.embed = nn.Linear(embed_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.embed(emb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head spatial self-attention with a residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        attn = nn.functional.scaled_dot_product_attention(q, k, v)  # [B, HW, C]
        return x + self.out(attn.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """``net(x, timestep, cond) -> output`` with ``x`` ``[B, C, H, W]`` (``H, W`` divisible by
    ``2^(levels-1)``), ``timestep`` ``[B]`` on the model's 0..1000 scale, ``cond`` ``[B, E]``."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        e = config.embed_dim
        widths = [config.base_channels * m for m in config.channel_mults]
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        folded = config.in_channels * config.patch**2
        self.stem = nn.Conv2d(folded, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            self.down.append(ResBlock(c, w, e))
            c = w
            last = i == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, 2, padding=1))
        self.mid1 = ResBlock(c, c, e)
        self.mid_attn = SelfAttention(c) if config.attention else nn.Identity()
        self.mid2 = ResBlock(c, c, e)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(c + w, w, e))
            c = w
            self.upsample.append(nn.Upsample(scale_factor=2.0) if i > 0 else nn.Identity())
        self.head = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, folded, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self, x: Float[Tensor, "B C H W"], timestep: Float[Tensor, " B"],
        cond: Float[Tensor, "B E"],
    ) -> Float[Tensor, "B C H W"]:
        emb = self.time_mlp(timestep_embedding(timestep, self.config.embed_dim)) + cond
        h = self.stem(nn.functional.pixel_unshuffle(x, self.config.patch))
        skips = []
        for block, down in zip(self.down, self.downsample, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block, up in zip(self.up, self.upsample, strict=True):
            h = up(block(torch.cat([h, skips.pop()], dim=1), emb))
        return nn.functional.pixel_shuffle(self.head(h), self.config.patch)
