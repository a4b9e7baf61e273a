"""A small dense 3D convolutional backbone with a top-down neck, giving several feature levels.

The shape follows FCAF3D's (Rukhovich et al., 2022, "FCAF3D: Fully Convolutional Anchor-Free
3D Object Detection"): a ResNet-style encoder whose stride-2 stages each give one level,
and a top-down path that adds each coarser level, upsampled, to the next finer one, so the
finest level also sees large context. FCAF3D uses sparse convolutions (MinkowskiEngine) and
generative transposed convolutions with pruning; here every convolution is a dense
``nn.Conv3d`` on a coarse grid (see :mod:`detection.model.features` for why), and the
upsampling is nearest-neighbour.

GroupNorm instead of BatchNorm: batches are small (two scenes per step by default) and each
scene's grid is padded to the batch's largest, so per-sample statistics are the stable choice
(and the same network without any normalisation learned markedly slower in our trials).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // 8), channels)


class ResBlock3d(nn.Module):
    """Two 3x3x3 convolutions with GroupNorm, ReLU and an identity shortcut (He et al., 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = _norm(channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _norm(channels)

    def forward(self, x: Float[Tensor, "B C X Y Z"]) -> Float[Tensor, "B C X Y Z"]:
        y = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(x + self.norm2(self.conv2(y)))


def _conv_norm_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        _norm(c_out),
        nn.ReLU(inplace=True),
    )


class Backbone3d(nn.Module):
    """Stem at the voxel resolution, then ``len(channels) - 1`` stride-2 stages, then a
    top-down neck; returns one ``out_channels`` feature map per stage.

    Level ``l`` (0-based) has stride ``2 ** (l + 1)`` relative to the input grid, so the
    input's spatial size must be a multiple of ``2 ** (len(channels) - 1)``.

    Example:
        >>> net = Backbone3d(16, (8, 16, 32), out_channels=16)
        >>> [f.shape[2] for f in net(torch.zeros(1, 16, 8, 8, 8))]
        [4, 2]
    """

    def __init__(self, in_channels: int, channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"Backbone3d needs at least 2 channel widths, got {channels}")
        self.stem = _conv_norm_relu(in_channels, channels[0], stride=1)
        self.stages = nn.ModuleList(
            nn.Sequential(_conv_norm_relu(c_in, c_out, stride=2), ResBlock3d(c_out))
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        self.lateral = nn.ModuleList(nn.Conv3d(c, out_channels, 1) for c in channels[1:])
        self.smooth = nn.ModuleList(
            _conv_norm_relu(out_channels, out_channels, stride=1) for _ in channels[1:]
        )

    @property
    def num_levels(self) -> int:
        return len(self.stages)

    def forward(self, x: Float[Tensor, "B C X Y Z"]) -> list[Float[Tensor, "B F _ _ _"]]:
        x = self.stem(x)
        encoded = []
        for stage in self.stages:
            x = stage(x)
            encoded.append(x)
        levels: list[Tensor] = [None] * len(encoded)  # type: ignore[list-item]
        top = None
        for i in reversed(range(len(encoded))):
            lateral = self.lateral[i](encoded[i])
            if top is not None:
                lateral = lateral + nn.functional.interpolate(top, size=lateral.shape[2:])
            top = lateral
            levels[i] = self.smooth[i](lateral)
        return levels
