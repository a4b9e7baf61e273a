"""Score distillation sampling (SDS) and its L2 form, on the priors' continuous-time schedules.

A render ``x`` (in the prior's model space) is noised to ``x_t = alpha(t) x + sigma(t) eps``;
the prior's guided noise estimate ``eps_hat`` gives DreamFusion's gradient
(Poole et al. 2022, eq. 3)::

    grad_x L_SDS = w(t) (eps_hat - eps)

Because ``x_t = alpha x0_hat + sigma eps_hat`` for the one-step denoised estimate
``x0_hat = (x_t - sigma eps_hat) / alpha``, the same gradient is::

    w(t) (eps_hat - eps) = w(t) (alpha / sigma) (x - x0_hat)
                         = grad_x [ 1/2 w(t) (alpha / sigma) ||x - sg(x0_hat)||^2 ]

the L2 view StableDreamer builds on (Guo et al. 2023, Sec. 3.1). For variance-preserving
schedules ``alpha^2 = abar`` and ``sigma^2 = 1 - abar`` (the discrete ``alphas_cumprod`` of
DDPM), so ``alpha / sigma = sqrt(abar / (1 - abar))`` as in the usual statement; on any
schedule of :mod:`text2d3.solvers.schedules` ``alpha / sigma = exp(lambda(t))``.

Weightings ``w(t)`` (:data:`WEIGHTINGS`):

* ``"uniform"`` -- ``w = 1``.
* ``"sigma2"`` -- ``w = sigma^2`` (``1 - abar`` on VP schedules; DreamFusion's choice).
* ``"snr"`` -- ``w = sigma / alpha = SNR^(-1/2)``: the L2 weight becomes a constant 1/2, i.e.
  plain regression onto ``x0_hat`` (HiFA, Zhu et al. 2023; StableDreamer's L2 reading).

Losses are means over the entries and the images of a batch (as the trainer's photometric
loss is), which is what :class:`splat3d.strategy.DefaultStrategy` assumes when it rescales
screen-space gradients by the number of cameras.

A cleaner target than ``x0_hat`` (:func:`k_step_target`) denoises ``x_t`` with ``k`` steps of an
ODE solver from :mod:`text2d3.solvers` and regresses onto the result. Cost: the solver's NFE for
``k`` steps (``k`` for ``ddim``/``dpmpp2m``) guided model calls instead of one, each two network
passes under classifier-free guidance, so a step costs about ``k`` times as much in the prior.

Example:
    >>> from text2d3.solvers import VPCosine
    >>> x = torch.zeros(1, 3, 4, 4)
    >>> loss = sds_l2_loss(x, torch.ones(1, 3, 4, 4), torch.tensor([0.5]), VPCosine(), "snr")
    >>> round(float(loss), 3)
    0.5
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers import NoiseSchedule, sample
from text2d3.solvers.model import ModelFn, Prediction, per_sample

Weighting = Literal["uniform", "sigma2", "snr"]
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)


def weight(t: Float[Tensor, " B"], schedule: NoiseSchedule, weighting: Weighting) -> Tensor:
    """``w(t)`` per sample (float64)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    if weighting == "uniform":
        return torch.ones_like(t)
    if weighting == "sigma2":
        return schedule.sigma(t) ** 2
    if weighting == "snr":
        return schedule.sigma(t) / schedule.alpha(t)
    raise ValueError(f"SDS weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def l2_coefficient(
    t: Float[Tensor, " B"], schedule: NoiseSchedule, weighting: Weighting
) -> Float[Tensor, " B"]:
    """``w(t) alpha(t) / sigma(t)``: the weight of ``||x - x0_hat||^2`` (before the 1/2)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return weight(t, schedule, weighting) * schedule.alpha(t) / schedule.sigma(t)


def sds_gradient(
    eps_hat: Float[Tensor, "B C h w"], eps: Float[Tensor, "B C h w"], t: Float[Tensor, " B"],
    schedule: NoiseSchedule, weighting: Weighting,
) -> Float[Tensor, "B C h w"]:
    """DreamFusion's ``w(t) (eps_hat - eps)``, scaled like :func:`sds_l2_loss` (divided by the
    number of entries of the batch) so the two are comparable one to one."""
    return per_sample(weight(t, schedule, weighting), eps) * (eps_hat - eps) / eps.numel()


def sds_l2_loss(
    x: Float[Tensor, "B C h w"], target: Float[Tensor, "B C h w"], t: Float[Tensor, " B"],
    schedule: NoiseSchedule, weighting: Weighting,
) -> Tensor:
    """``mean_b 1/2 w(t_b) alpha/sigma mean ||x_b - sg(target_b)||^2``; with
    ``target = x0_hat`` its gradient is :func:`sds_gradient` exactly."""
    coef = per_sample(l2_coefficient(t, schedule, weighting), x)
    sq = (x - target.detach()).square() * coef
    return 0.5 * sq.mean()


def k_step_target(
    model: ModelFn, x_t: Float[Tensor, "B C h w"], t: float, schedule: NoiseSchedule,
    prediction: Prediction, steps: int, method: str = "dpmpp2m",
) -> Float[Tensor, "B C h w"]:
    """Denoise ``x_t`` (all samples at time ``t``) to ``schedule.t_min`` in ``steps`` steps of
    ``method``: the k-step regression target (``steps = 1`` with ``ddim`` is ``x0_hat`` at ``t``
    followed by re-noising to ``t_min``, i.e. essentially the one-step target)."""
    if steps < 1:
        raise ValueError(f"k_step_target: steps must be >= 1, got {steps}")
    return sample(model, x_t, schedule=schedule, steps=steps, method=method,
                  prediction=prediction, t_start=float(t), t_end=schedule.t_min)
