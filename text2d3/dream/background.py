"""What the renders are composited over during distillation: a fixed, random or learned colour.

* ``fixed`` -- one colour throughout. The embedded priors were trained on renders over
  :data:`text2d3.procedural.BACKGROUND` (light grey), so that is the default: anything else is
  off their training distribution.
* ``random`` -- a new uniform colour per view and step, so the object cannot "paint" the
  background into semi-transparent Gaussians (Magic3D and threestudio do this for open priors).
* ``learned`` -- one RGB colour optimised with the Gaussians (DreamFusion learns an MLP over
  ray directions; a constant suffices for object-centric prompts), initialised at ``colour``.

Example:
    >>> bg = Background(BackgroundConfig(kind="random"))
    >>> bg.colours(2, torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.procedural import BACKGROUND


@dataclass(frozen=True)
class BackgroundConfig:
    """The background model of a distillation stage."""

    kind: Literal["fixed", "random", "learned"] = "fixed"
    """``fixed`` colour, ``random`` colour per view, or a ``learned`` colour."""
    colour: tuple[float, float, float] = BACKGROUND
    """The fixed colour, or the learned colour's initial value (RGB in ``[0, 1]``)."""
    lr: float = 0.01
    """Adam learning rate of the learned colour's logits."""

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "random", "learned"):
            raise ValueError(f"BackgroundConfig.kind must be 'fixed', 'random' or 'learned', "
                             f"got {self.kind!r}")
        if len(self.colour) != 3 or not all(0.0 <= c <= 1.0 for c in self.colour):
            raise ValueError(f"BackgroundConfig.colour must be 3 values in [0, 1], "
                             f"got {self.colour}")


class Background:
    """The background policy of one stage; ``parameters()`` is non-empty only when learned."""

    def __init__(self, config: BackgroundConfig) -> None:
        self.config = config
        colour = torch.tensor(config.colour, dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
        self._logits = torch.nn.Parameter(torch.logit(colour)) if config.kind == "learned" \
            else None

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trainable tensors (the learned colour's logits, or nothing)."""
        return [] if self._logits is None else [self._logits]

    def colours(self, n: int, generator: torch.Generator) -> Float[Tensor, "n 3"]:
        """The background colour of each of ``n`` views this step."""
        if self.config.kind == "random":
            return torch.rand(n, 3, generator=generator)
        if self._logits is not None:
            return torch.sigmoid(self._logits).expand(n, 3)
        return torch.tensor(self.config.colour, dtype=torch.float32).expand(n, 3)
