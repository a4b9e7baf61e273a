"""Flow-matching solvers: explicit Runge-Kutta methods on ``dx/dt = alpha'(t) x0 + sigma'(t) eps``
in the schedule's own time ``t`` (Lipman et al. 2023, "Flow Matching for Generative Modeling";
Liu et al. 2023, "Flow Straight and Fast"). Any schedule works; with :class:`RectifiedFlow` the
velocity is ``eps - x0`` and both ends ``t = 1`` and ``t = 0`` are allowed.

* :func:`euler` -- order 1, NFE = steps.
* :func:`heun` -- Heun's trapezoidal method (Karras et al. 2022, EDM, Alg. 1), order 2,
  NFE = 2 steps, or 2 steps - 1 when the grid ends at ``sigma = 0``: as in EDM (Alg. 1, line 9)
  the step into pure data is an Euler step, which is what diffusers' FlowMatchHeun does too.
* :func:`midpoint` -- explicit midpoint rule, order 2, NFE = 2 steps.
(Hairer, Norsett & Wanner, "Solving ODEs I", II.1.)
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.model import Denoiser, per_sample


def velocity(denoise: Denoiser, x: Float[Tensor, "B ..."], t: Tensor) -> Float[Tensor, "B ..."]:
    """Probability-flow velocity ``alpha'(t) x0 + sigma'(t) eps`` at ``(x, t)``."""
    x0, eps = denoise(x, t)
    schedule = denoise.schedule
    return per_sample(schedule.d_alpha(t), x) * x0 + per_sample(schedule.d_sigma(t), x) * eps


def euler(
    denoise: Denoiser, x: Float[Tensor, "B ..."], ts: Float[Tensor, " N_plus_1"]
) -> Float[Tensor, "B ..."]:
    """Euler's method in ``t``."""
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        x = x + (t - s).item() * velocity(denoise, x, s)
    return x


def heun(
    denoise: Denoiser, x: Float[Tensor, "B ..."], ts: Float[Tensor, " N_plus_1"]
) -> Float[Tensor, "B ..."]:
    """Heun's method in ``t`` (Euler predictor, trapezoidal corrector; Euler into ``sigma = 0``)."""
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        dt = (t - s).item()
        k1 = velocity(denoise, x, s)
        euler_step = x + dt * k1
        if float(denoise.schedule.sigma(t)) == 0.0:
            x = euler_step
        else:
            x = x + 0.5 * dt * (k1 + velocity(denoise, euler_step, t))
    return x


def midpoint(
    denoise: Denoiser, x: Float[Tensor, "B ..."], ts: Float[Tensor, " N_plus_1"]
) -> Float[Tensor, "B ..."]:
    """Explicit midpoint method in ``t``."""
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        dt = (t - s).item()
        k1 = velocity(denoise, x, s)
        x = x + dt * velocity(denoise, x + 0.5 * dt * k1, 0.5 * (s + t))
    return x
