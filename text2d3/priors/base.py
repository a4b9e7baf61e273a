"""The interface every 2D diffusion prior implements, and the guidance/sampling built on it.

A prior is anything with the attributes and methods of :class:`DiffusionPrior` (a
``typing.Protocol``: the embedded priors, Stable Diffusion and DeepFloyd IF implement it without
inheriting). Score distillation and image sampling use only this interface:

1. :meth:`DiffusionPrior.encode_prompt` turns prompts and negative prompts into
   :class:`Conditioning`;
2. :func:`guided_model` wraps :meth:`DiffusionPrior.predict` with classifier-free guidance
   (Ho & Salimans 2022, eq. 6) into the ``model(x, t)`` callable of :mod:`text2d3.solvers`,
   on the prior's own :attr:`~DiffusionPrior.schedule` and
   :attr:`~DiffusionPrior.prediction` type;
3. latent priors (Rombach et al. 2022) map images to model space with
   :meth:`~DiffusionPrior.encode` and back with :meth:`~DiffusionPrior.decode`; pixel priors
   resize and rescale to ``[-1, 1]``.

Times are the solvers' continuous times (float64, shape ``[]`` or ``[B]``); each prior converts
them to its network's timestep itself.

Example:
    >>> from text2d3.priors.embedded import load_embedded
    >>> prior = load_embedded("pixel")
    >>> images = generate(prior, ["a red cube"], steps=10, method="dpmpp2m", seed=0)
    >>> images.shape
    torch.Size([1, 32, 32, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers import (
    Denoised,
    DynamicThreshold,
    NoiseSchedule,
    classifier_free_guidance,
    sample,
)
from text2d3.solvers.model import ModelFn, Prediction, to_denoised


@dataclass(frozen=True)
class Conditioning:
    """Encoded prompts: what :meth:`DiffusionPrior.predict` consumes, one row per prompt."""

    positive: Tensor
    """Embeddings of the prompts, ``[B, ...]`` (token ids for the embedded priors, text-encoder
    hidden states for Stable Diffusion and IF)."""
    negative: Tensor
    """Embeddings of the negative prompts (the empty prompt by default), same shape; the
    unconditional branch of classifier-free guidance."""

    def __len__(self) -> int:
        return self.positive.shape[0]

    def repeat(self, n: int) -> Conditioning:
        """Each row repeated ``n`` times in place (``[a, b] -> [a, a, b, b]`` for ``n = 2``)."""
        return Conditioning(self.positive.repeat_interleave(n, 0),
                            self.negative.repeat_interleave(n, 0))


class DiffusionPrior(Protocol):
    """A text-conditioned image diffusion model seen through its probability-flow ODE."""

    schedule: NoiseSchedule
    """The forward process ``x_t = alpha(t) x0 + sigma(t) eps`` the network was trained on."""
    prediction: Prediction
    """What :meth:`predict` returns: ``"eps"``, ``"v"``, ``"x0"`` or ``"flow"``."""
    resolution: int
    """Native image side in pixels (32 for the embedded priors, 512 for SD 2.1-base, 64 for IF
    stage I)."""
    channels: int
    """Channels of the model space (3 in pixel space, 4 for SD latents)."""
    downsample: int
    """Image pixels per model-space pixel along each axis (1 in pixel space, 8 for SD)."""

    def encode_prompt(
        self, prompts: Sequence[str], negative: Sequence[str] | None = None
    ) -> Conditioning:
        """Encode ``B`` prompts and (optionally) ``B`` negative prompts (default: empty)."""
        ...

    def predict(
        self, x: Float[Tensor, "B C h w"], t: Tensor, embeddings: Tensor
    ) -> Float[Tensor, "B C h w"]:
        """The network's raw prediction at ``(x, t)`` for one set of embeddings (no guidance)."""
        ...

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B C h w"]:
        """Images in ``[0, 1]`` (any size; resized to :attr:`resolution`) to model space."""
        ...

    def decode(self, x: Float[Tensor, "B C h w"]) -> Float[Tensor, "B H W 3"]:
        """Model space to images in ``[0, 1]`` at :attr:`resolution`."""
        ...


def negative_prompts(prompts: Sequence[str], negative: Sequence[str] | None) -> list[str]:
    """The negative prompt per prompt (empty strings by default), checked to match in count."""
    negative = [""] * len(prompts) if negative is None else list(negative)
    if len(negative) != len(prompts):
        raise ValueError(f"encode_prompt: {len(prompts)} prompts but {len(negative)} "
                         "negative prompts")
    return negative


def guided_model(prior: DiffusionPrior, cond: Conditioning, guidance: float) -> ModelFn:
    """``model(x, t)`` for :func:`text2d3.solvers.sample`: the prior's prediction under
    classifier-free guidance ``u + guidance (c - u)`` (Ho & Salimans 2022, eq. 6); ``guidance = 1``
    is the plain conditional model and skips the unconditional pass. ``x`` is ``[B, C, h, w]``
    with ``B == len(cond)``."""

    def conditional(x: Tensor, t: Tensor) -> Tensor:
        return prior.predict(x, t, cond.positive)

    if guidance == 1.0:
        return conditional

    def unconditional(x: Tensor, t: Tensor) -> Tensor:
        return prior.predict(x, t, cond.negative)

    return classifier_free_guidance(conditional, unconditional, guidance)


def guided_denoised(
    prior: DiffusionPrior, x: Float[Tensor, "B C h w"], t: Tensor, cond: Conditioning,
    guidance: float,
) -> Denoised:
    """The guided ``(x0, eps)`` pair at ``(x, t)``, whatever the prior predicts; score
    distillation uses ``eps`` (Poole et al. 2022, DreamFusion, eq. 3)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    out = guided_model(prior, cond, guidance)(x, t)
    return to_denoised(out, x, t, prior.schedule, prior.prediction)


def generate(
    prior: DiffusionPrior,
    prompts: Sequence[str],
    *,
    steps: int = 20,
    method: str = "dpmpp2m",
    guidance: float = 3.0,
    seed: int = 0,
    negative: Sequence[str] | None = None,
    threshold: DynamicThreshold | None = None,
) -> Float[Tensor, "B H W 3"]:
    """Sample one image per prompt by solving the guided probability-flow ODE.

    Args:
        prior: the model.
        prompts: ``B`` prompts.
        steps: solver steps (see :data:`text2d3.solvers.METHODS` for the NFE per step).
        method: a :data:`text2d3.solvers.METHODS` key.
        guidance: classifier-free guidance scale (1 = none).
        seed: seed of the starting noise ``x_T``.
        negative: ``B`` negative prompts (default: empty).
        threshold: dynamic thresholding of ``x0`` (Saharia et al. 2022) for pixel-space priors
            sampled with large guidance, e.g. DeepFloyd IF.

    Returns:
        Images in ``[0, 1]`` at the prior's native resolution.
    """
    cond = prior.encode_prompt(prompts, negative)
    side = prior.resolution // prior.downsample
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(len(cond), prior.channels, side, side, generator=g)
    x_T = x_T.to(device=cond.positive.device)
    x0 = sample(guided_model(prior, cond, guidance), x_T, schedule=prior.schedule, steps=steps,
                method=method, prediction=prior.prediction, threshold=threshold)
    return prior.decode(x0.float())


def resize_images(
    images: Float[Tensor, "B H W 3"], resolution: int
) -> Float[Tensor, "B 3 R R"]:
    """Channels-first images at ``resolution`` (area-averaged down, bilinear up), as every
    prior's :meth:`~DiffusionPrior.encode` needs."""
    x = images.permute(0, 3, 1, 2)
    if x.shape[-2:] == (resolution, resolution):
        return x
    mode = "area" if x.shape[-1] > resolution else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return torch.nn.functional.interpolate(x, size=(resolution, resolution), mode=mode, **kwargs)
