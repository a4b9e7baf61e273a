"""The detection head shared across feature levels: class logits, centerness, box distances, yaw.

As in FCAF3D (Rukhovich et al., 2022, Sec. 3.2) one head with shared weights runs on every
level; at each location it predicts

* ``num_classes`` class logits (sigmoid, trained with a focal loss),
* one centerness logit,
* six face distances, parametrised as ``exp(raw) * level_voxel_size`` so that they are
  positive and start near the level's scale (a learned per-level scale multiplies ``raw``,
  as FCOS's ``Scale`` layers do),
* with ``with_yaw``: ``(sin 2 theta, cos 2 theta)`` of the box yaw. The doubled angle makes
  the target continuous under the ``theta -> theta + pi`` symmetry of a box; FCAF3D's Mobius
  parametrisation additionally folds the ``pi/2`` symmetry (swapping ``dx`` and ``dy``),
  which this simpler coding leaves to the box regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

MAX_LOG_DISTANCE = 6.0
"""Upper clamp on the distance exponent, so an early prediction cannot overflow."""


@dataclass
class LevelOutput:
    """Raw head outputs at the ``L`` locations of one level (one scene)."""

    class_logits: Float[Tensor, "L K"]
    centerness_logits: Float[Tensor, " L"]
    distances: Float[Tensor, "L 6"]
    """Positive face distances in metres (see :mod:`detection.model.box_coding`)."""
    yaw: Float[Tensor, " L"]
    """Yaw in radians, in ``(-pi/2, pi/2]``; zeros without a yaw head."""


class DetectionHead(nn.Module):
    """Shared 3x3x3 conv + ReLU, then 1x1x1 outputs; evaluated at selected locations.

    Example:
        >>> head = DetectionHead(16, num_classes=3, num_levels=2, with_yaw=True)
        >>> out = head(torch.zeros(1, 16, 4, 4, 4), level=0, voxel_size=0.2,
        ...            index=[torch.tensor([0, 5])])
        >>> out[0].class_logits.shape, out[0].distances.shape
        (torch.Size([2, 3]), torch.Size([2, 6]))
    """

    def __init__(self, channels: int, num_classes: int, num_levels: int, with_yaw: bool) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.with_yaw = with_yaw
        self.shared = nn.Sequential(nn.Conv3d(channels, channels, 3, padding=1), nn.ReLU())
        outputs = num_classes + 1 + 6 + (2 if with_yaw else 0)
        self.out = nn.Linear(channels, outputs)
        self.level_scales = nn.Parameter(torch.ones(num_levels))
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.zeros_(self.out.bias)
        # Focal-loss prior (Lin et al., 2017, Sec. 4.1): start with p(object) = 0.01.
        with torch.no_grad():
            self.out.bias[:num_classes] = -4.595
            if with_yaw:  # start at yaw 0, away from atan2's singular point (0, 0)
                self.out.bias[num_classes + 8] = 1.0

    def forward(
        self, features: Float[Tensor, "B C X Y Z"], level: int, voxel_size: float,
        index: list[Tensor],
    ) -> list[LevelOutput]:
        """Head outputs of each scene ``b`` at its flattened voxel indices ``index[b]``
        (``[L_b]`` into ``X*Y*Z``)."""
        shared = self.shared(features).flatten(2)  # [B, C, X*Y*Z]
        return [self._decode(self.out(shared[b, :, i].T), level, voxel_size)
                for b, i in enumerate(index)]

    def _decode(self, raw: Float[Tensor, "L O"], level: int, voxel_size: float) -> LevelOutput:
        k = self.num_classes
        log_dist = (raw[:, k + 1 : k + 7] * self.level_scales[level]).clamp(max=MAX_LOG_DISTANCE)
        if self.with_yaw:
            yaw = 0.5 * torch.atan2(raw[:, k + 7], raw[:, k + 8])
        else:
            yaw = raw.new_zeros(raw.shape[0])
        distances = torch.exp(log_dist) * voxel_size
        return LevelOutput(raw[:, :k], raw[:, k], distances, yaw)
