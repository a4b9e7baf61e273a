"""Time-Shift Sampler (Li et al. 2024, "Alleviating Exposure Bias in Diffusion Models through
Sampling with Shifted Time Steps", ICLR; Algorithm 1) as a wrapper around any solver.

Exposure bias leaves the sample ``x`` at grid time ``t`` noisier or cleaner than the model expects.
The sampler queries the network at the time ``tau`` in a window around ``t`` whose noise level best
matches the sample's own statistics, per sample:

    tau = argmin_{|tau - t| <= window} | Var(x) - (alpha(tau)^2 v_data + sigma(tau)^2) |,

where ``Var(x)`` is taken over each sample's entries and ``v_data = 0`` gives the paper's rule
(``Var(x) ~ 1 - alpha_bar``). Only times ``t > cutoff`` are shifted. The solver keeps using its own
grid coefficients with the shifted prediction, as in the paper's TS-DDIM / TS-DPM-Solver.

The wrapper sits between the raw network and :class:`~text2d3.solvers.model.Denoiser`, so it works
with every method; the network must accept a time of shape ``[B]``.

Example:
    >>> from text2d3.solvers.schedules import VPLinear
    >>> shifted = time_shifted(lambda x, t: x * 0 + t[:, None], VPLinear(), TimeShift(0.1, 0.5))
    >>> x = torch.tensor([[-1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)  # variance 2: pure noise
    >>> shifted(x, torch.tensor(0.8, dtype=torch.float64))[:, 0].tolist()
    [0.9, 0.9]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from text2d3.solvers.model import ModelFn
from text2d3.solvers.schedules import NoiseSchedule


@dataclass(frozen=True)
class TimeShift:
    """Settings of the Time-Shift Sampler."""

    window: float
    """Half-width of the search window, in the schedule's time units (paper: ``w / 2`` steps)."""
    cutoff: float
    """Times ``t <= cutoff`` are not shifted (paper: the cutoff time step)."""
    candidates: int = 41
    """Number of evenly spaced candidate times searched in the window (plus ``t`` itself)."""
    data_variance: float = 0.0
    """Per-entry data variance ``v_data`` in the target variance; 0 is the paper's rule."""


def time_shifted(model: ModelFn, schedule: NoiseSchedule, config: TimeShift) -> ModelFn:
    """Wrap ``model`` so that it is evaluated at per-sample shifted times (see module doc)."""

    def shifted(x: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        if t.ndim != 0 or config.window <= 0.0 or float(t) <= config.cutoff:
            return model(x, t)
        lo = max(float(t) - config.window, schedule.t_min)
        hi = min(float(t) + config.window, schedule.t_max)
        cands = torch.cat([t[None], torch.linspace(lo, hi, config.candidates, dtype=torch.float64)])
        target = schedule.alpha(cands) ** 2 * config.data_variance + schedule.sigma(cands) ** 2
        var = x.reshape(x.shape[0], -1).to(torch.float64).var(dim=1)  # [B]
        best = (var[:, None] - target[None, :]).abs().argmin(dim=1)  # ties keep t (index 0)
        return model(x, cands[best])

    return shifted
