"""A small dense 3D convolutional backbone with a top-down neck, giving several feature levels.

The shape follows FCAF3D's (Rukhovich et al., 2022, "FCAF3D: Fully Convolutional Anchor-Free
3D Object Detection"): a ResNet-style encoder whose stride-2 stages each give one level,
and a top-down path that adds each coarser level, upsampled, to the next finer one, so the
finest level also sees large context. FCAF3D uses sparse convolutions (MinkowskiEngine) and
generative transposed convolutions with pruning; here every convolution is a dense
``nn.Conv3d`` on a coarse grid (see :mod:`detection.model.features` for why), and the
upsampling is nearest-neighbour.

Normalisation: GroupNorm (batches are small, two scenes per step by default) whose
statistics cover the occupied voxels only, with empty voxels zeroed after it
(:class:`MaskedGroupNorm`). A room's grid is mostly empty; plain GroupNorm let the empty
voxels dominate the statistics and fitted a scene markedly slower, and no normalisation at
all was slower still. With the mask, a scene's outputs do not depend on how much empty
padding batching adds around it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics cover the occupied voxels only, with empty voxels set to 0.

    With the mask applied after every normalisation the dense network behaves like a
    submanifold sparse one (Graham et al., 2018): features live on the occupied voxels, and
    the many empty voxels of a room neither dilate the features nor swamp the statistics.
    """

    def forward(  # type: ignore[override]
        self, x: Float[Tensor, "B C X Y Z"], mask: Float[Tensor, "B 1 X Y Z"]
    ) -> Float[Tensor, "B C X Y Z"]:
        b, c = x.shape[:2]
        g = self.num_groups
        xg = x.reshape(b, g, c // g, -1)  # [B, G, C/G, V]
        m = mask.reshape(b, 1, 1, -1)
        count = (m.sum(dim=(2, 3), keepdim=True) * (c // g)).clamp_min(1.0)
        mean = (xg * m).sum(dim=(2, 3), keepdim=True) / count
        var = (((xg - mean) * m) ** 2).sum(dim=(2, 3), keepdim=True) / count
        y = ((xg - mean) / torch.sqrt(var + self.eps)).reshape_as(x)
        y = y * self.weight.view(1, c, 1, 1, 1) + self.bias.view(1, c, 1, 1, 1)
        return y * mask


def _norm(channels: int) -> MaskedGroupNorm:
    return MaskedGroupNorm(max(1, channels // 8), channels)


class ResBlock3d(nn.Module):
    """Two 3x3x3 convolutions with masked GroupNorm, ReLU and an identity shortcut
    (He et al., 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = _norm(channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _norm(channels)

    def forward(
        self, x: Float[Tensor, "B C X Y Z"], mask: Float[Tensor, "B 1 X Y Z"]
    ) -> Float[Tensor, "B C X Y Z"]:
        y = torch.relu(self.norm1(self.conv1(x), mask))
        return torch.relu(x + self.norm2(self.conv2(y), mask))


class ConvNormReLU(nn.Module):
    """3x3x3 convolution (optionally strided), masked GroupNorm, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm = _norm(c_out)

    def forward(
        self, x: Float[Tensor, "B C X Y Z"], mask: Float[Tensor, "B 1 _ _ _"]
    ) -> Float[Tensor, "B D _ _ _"]:
        return torch.relu(self.norm(self.conv(x), mask))


class Backbone3d(nn.Module):
    """Stem at the voxel resolution, then ``len(channels) - 1`` stride-2 stages, then a
    top-down neck; returns one ``out_channels`` feature map per stage.

    Level ``l`` (0-based) has stride ``2 ** (l + 1)`` relative to the input grid, so the
    input's spatial size must be a multiple of ``2 ** (len(channels) - 1)``.

    Example:
        >>> net = Backbone3d(16, (8, 16, 32), out_channels=16)
        >>> [f.shape[2] for f in net(torch.zeros(1, 16, 8, 8, 8), torch.ones(1, 1, 8, 8, 8))]
        [4, 2]
    """

    def __init__(self, in_channels: int, channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"Backbone3d needs at least 2 channel widths, got {channels}")
        self.stem = ConvNormReLU(in_channels, channels[0], stride=1)
        self.down = nn.ModuleList(
            ConvNormReLU(c_in, c_out, stride=2)
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        self.blocks = nn.ModuleList(ResBlock3d(c) for c in channels[1:])
        self.lateral = nn.ModuleList(nn.Conv3d(c, out_channels, 1) for c in channels[1:])
        self.smooth = nn.ModuleList(
            ConvNormReLU(out_channels, out_channels, stride=1) for _ in channels[1:]
        )

    @property
    def num_levels(self) -> int:
        return len(self.down)

    def forward(
        self, x: Float[Tensor, "B C X Y Z"], mask: Float[Tensor, "B 1 X Y Z"]
    ) -> list[Float[Tensor, "B F _ _ _"]]:
        """Features of each level; ``mask`` is the input's occupancy (1 occupied, 0 empty),
        max-pooled to each level (a coarse voxel is occupied when any of its fine ones is)."""
        x = self.stem(x, mask)
        encoded, masks = [], []
        for down, block in zip(self.down, self.blocks, strict=True):
            mask = nn.functional.max_pool3d(mask, 2)
            x = block(down(x, mask), mask)
            encoded.append(x)
            masks.append(mask)
        levels: list[Tensor] = [None] * len(encoded)  # type: ignore[list-item]
        top = None
        for i in reversed(range(len(encoded))):
            lateral = self.lateral[i](encoded[i]) * masks[i]
            if top is not None:
                lateral = lateral + nn.functional.interpolate(top, size=lateral.shape[2:])
            top = lateral
            levels[i] = self.smooth[i](lateral, masks[i])
        return levels
