"""The model contract: one denoiser callable, converted once to ``(x0, eps)``.

A model is any callable ``model(x, t) -> prediction`` where ``x`` is ``[B, ...]`` and ``t`` is a
float64 tensor of shape ``[]`` (all samples at one time) or ``[B]`` (one time per sample, used by
the Time-Shift wrapper). What it predicts is named by a :data:`Prediction`:

* ``"eps"`` -- the noise ``eps`` (Ho et al. 2020).
* ``"x0"`` -- the clean data ``x0``.
* ``"v"`` -- ``v = alpha eps - sigma x0`` (Salimans & Ho 2022, "Progressive Distillation", Sec. 4).
* ``"flow"`` -- the velocity ``dx/dt = alpha'(t) x0 + sigma'(t) eps`` (Lipman et al. 2023;
  Liu et al. 2023; ``eps - x0`` for rectified flow).

:class:`Denoiser` solves the 2x2 linear system ``x = alpha x0 + sigma eps`` plus the prediction's
own equation, so every solver sees a consistent pair ``(x0, eps)`` with
``alpha x0 + sigma eps = x`` to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.schedules import NoiseSchedule

Prediction = Literal["eps", "x0", "v", "flow"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)
ModelFn = Callable[[Tensor, Tensor], Tensor]


class Denoised(NamedTuple):
    """The common internal form of a model evaluation."""

    x0: Float[Tensor, "B ..."]
    """Data prediction ``E[x0 | x_t]``."""
    eps: Float[Tensor, "B ..."]
    """Noise prediction ``E[eps | x_t]``."""


def per_sample(coef: Tensor, x: Tensor) -> Tensor:
    """Broadcast a ``[]`` or ``[B]`` coefficient against ``x`` of shape ``[B, ...]``."""
    return coef.to(x.dtype).reshape(coef.shape + (1,) * (x.ndim - coef.ndim))


@dataclass(frozen=True)
class DynamicThreshold:
    """Imagen's dynamic thresholding of ``x0`` (Saharia et al. 2022, Sec. 2.3), for pixel-space
    models with large guidance: ``s = max(quantile(|x0|, ratio), max_value)`` per sample, then
    ``x0 <- clip(x0, -s, s) / s * max_value``."""

    ratio: float = 0.995
    """Quantile of ``|x0|`` over each sample's entries."""
    max_value: float = 1.0
    """Data range ``[-max_value, max_value]``."""

    def __call__(self, x0: Float[Tensor, "B ..."]) -> Float[Tensor, "B ..."]:
        flat = x0.abs().reshape(x0.shape[0], -1)
        s = torch.quantile(flat, self.ratio, dim=1).clamp_min(self.max_value)
        s = per_sample(s, x0)
        return torch.maximum(torch.minimum(x0, s), -s) / s * self.max_value


@dataclass(frozen=True)
class Denoiser:
    """A model plus its prediction type, returning :class:`Denoised` at time ``t``.

    Example:
        >>> from text2d3.solvers.schedules import VPLinear
        >>> d = Denoiser(lambda x, t: torch.zeros_like(x), VPLinear(), "eps")
        >>> out = d(torch.ones(2, 3, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
        >>> bool(torch.allclose(out.eps, torch.zeros(2, 3, dtype=torch.float64)))
        True
    """

    model: ModelFn
    """``model(x, t) -> prediction``."""
    schedule: NoiseSchedule
    """The forward process the model was trained on."""
    prediction: Prediction = "eps"
    """What the model predicts."""
    threshold: DynamicThreshold | None = None
    """Optional dynamic thresholding of ``x0`` (then ``eps`` is recomputed from it)."""

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"Denoiser.prediction must be one of {PREDICTIONS}, got {self.prediction!r}"
            )

    def __call__(self, x: Float[Tensor, "B ..."], t: Tensor) -> Denoised:
        t = torch.as_tensor(t, dtype=torch.float64)
        out = self.model(x, t)
        if out.shape != x.shape:
            raise ValueError(
                f"Denoiser: model output shape {tuple(out.shape)} != input {tuple(x.shape)}"
            )
        denoised = to_denoised(out, x, t, self.schedule, self.prediction)
        if self.threshold is None:
            return denoised
        x0 = self.threshold(denoised.x0)
        alpha, sigma = per_sample(self.schedule.alpha(t), x), per_sample(self.schedule.sigma(t), x)
        return Denoised(x0, (x - alpha * x0) / sigma)


def to_denoised(
    out: Float[Tensor, "B ..."],
    x: Float[Tensor, "B ..."],
    t: Tensor,
    schedule: NoiseSchedule,
    prediction: Prediction,
) -> Denoised:
    """Convert a raw prediction at ``(x, t)`` into ``(x0, eps)``."""
    alpha, sigma = per_sample(schedule.alpha(t), x), per_sample(schedule.sigma(t), x)
    if prediction == "eps":
        return Denoised((x - sigma * out) / alpha, out)
    if prediction == "x0":
        return Denoised(out, (x - alpha * out) / sigma)
    if prediction == "v":
        norm = alpha**2 + sigma**2  # 1 for VP schedules
        return Denoised((alpha * x - sigma * out) / norm, (sigma * x + alpha * out) / norm)
    if prediction == "flow":
        d_alpha, d_sigma = per_sample(schedule.d_alpha(t), x), per_sample(schedule.d_sigma(t), x)
        det = alpha * d_sigma - sigma * d_alpha
        return Denoised((d_sigma * x - sigma * out) / det, (alpha * out - d_alpha * x) / det)
    raise ValueError(f"to_denoised: prediction must be one of {PREDICTIONS}, got {prediction!r}")


def from_denoised(
    denoised: Denoised, t: Tensor, schedule: NoiseSchedule, prediction: Prediction
) -> Float[Tensor, "B ..."]:
    """The raw prediction of type ``prediction`` for a given ``(x0, eps)`` pair (inverse of
    :func:`to_denoised`); used by the exact testbed and by adapters for external schedulers."""
    x0, eps = denoised
    alpha, sigma = per_sample(schedule.alpha(t), x0), per_sample(schedule.sigma(t), x0)
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return alpha * eps - sigma * x0
    if prediction == "flow":
        return per_sample(schedule.d_alpha(t), x0) * x0 + per_sample(schedule.d_sigma(t), x0) * eps
    raise ValueError(f"from_denoised: prediction must be one of {PREDICTIONS}, got {prediction!r}")


def classifier_free_guidance(conditional: ModelFn, unconditional: ModelFn, scale: float) -> ModelFn:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6) as a model wrapper:
    ``out = u + scale (c - u)``, i.e. ``(1 + w) c - w u`` with ``w = scale - 1``.

    Every prediction type is affine in ``(x0, eps)`` at fixed ``(x, t)``, so guiding the raw
    output equals guiding ``x0`` or ``eps`` after conversion.

    Example:
        >>> cfg = classifier_free_guidance(lambda x, t: x, lambda x, t: 0 * x, 3.0)
        >>> cfg(torch.ones(1), torch.tensor(0.5)).item()
        3.0
    """

    def guided(x: Tensor, t: Tensor) -> Tensor:
        uncond = unconditional(x, t)
        return uncond + scale * (conditional(x, t) - uncond)

    return guided
