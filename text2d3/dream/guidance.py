"""The camera-aware prior interface the distillation loop talks to, and its adapter for 2D priors.

A :class:`Guide` turns a batch of renders into model space (:meth:`Guide.encode`, differentiable)
and, given the prompts and the cameras of the batch, returns a guided denoising model
``model(x_t, t)`` in the convention of :mod:`text2d3.solvers` (raw prediction of type
:attr:`Guide.prediction` on :attr:`Guide.schedule`). Real priors ignore the cameras
(:class:`PriorGuide`); the exact analytic prior of :mod:`text2d3.dream.analytic` needs them,
because its data distribution is centred on renders of a known scene from those very cameras.

Example:
    >>> from text2d3.priors.embedded import load_embedded
    >>> guide = PriorGuide(load_embedded("pixel"), guidance=5.0)
    >>> guide.open_vocabulary
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.dream.cameras import SampledViews
from text2d3.priors.base import Conditioning, DiffusionPrior, guided_model
from text2d3.solvers import NoiseSchedule
from text2d3.solvers.model import ModelFn, Prediction


class Guide(Protocol):
    """What score distillation needs from a prior."""

    schedule: NoiseSchedule
    """The forward process ``x_t = alpha(t) x + sigma(t) eps`` of the model space."""
    prediction: Prediction
    """What :meth:`model`'s callable returns."""
    open_vocabulary: bool
    """Whether free text (e.g. view suffixes) is understood."""

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B C h w"]:
        """Renders in ``[0, 1]`` to model space, differentiably."""
        ...

    def decode(self, x: Float[Tensor, "B C h w"]) -> Float[Tensor, "B H W 3"]:
        """Model space to images in ``[0, 1]``."""
        ...

    def model(self, prompts: Sequence[str], views: SampledViews) -> ModelFn:
        """The guided ``model(x, t)`` for a batch with one prompt and one camera per row."""
        ...


class PriorGuide:
    """A :class:`~text2d3.priors.base.DiffusionPrior` with classifier-free guidance
    (Ho & Salimans 2022) as a :class:`Guide`; prompt encodings are cached per prompt string."""

    def __init__(self, prior: DiffusionPrior, guidance: float, negative_prompt: str = "") -> None:
        from text2d3.priors.embedded import EmbeddedPrior

        self.prior = prior
        self.guidance = float(guidance)
        self.negative_prompt = negative_prompt
        self.schedule = prior.schedule
        self.prediction = prior.prediction
        self.open_vocabulary = not isinstance(prior, EmbeddedPrior)
        self._cache: dict[str, Conditioning] = {}

    def conditioning(self, prompts: Sequence[str]) -> Conditioning:
        """Encoded prompts (and the negative prompt) for each row."""
        for p in set(prompts) - set(self._cache):
            self._cache[p] = self.prior.encode_prompt([p], [self.negative_prompt])
        rows = [self._cache[p] for p in prompts]
        return Conditioning(torch.cat([r.positive for r in rows]),
                            torch.cat([r.negative for r in rows]))

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B C h w"]:
        return self.prior.encode(images)

    def decode(self, x: Float[Tensor, "B C h w"]) -> Float[Tensor, "B H W 3"]:
        return self.prior.decode(x)

    def model(self, prompts: Sequence[str], views: SampledViews) -> ModelFn:
        """Guided prediction; the cameras are not used."""
        return guided_model(self.prior, self.conditioning(prompts), self.guidance)
