"""Time grids: the decreasing times ``t_0 > t_1 > ... > t_N`` a solver steps through.

* ``"time"`` -- uniform in ``t`` (DDPM/DDIM "linear" skip; flow matching).
* ``"logsnr"`` -- uniform in ``lambda = log(alpha/sigma)`` (Lu et al. 2022, DPM-Solver, Sec. 3.4).
* ``"karras"`` -- ``s_i = (s_max^(1/rho) + i/N (s_min^(1/rho) - s_max^(1/rho)))^rho`` in the
  noise-to-signal ratio ``s = sigma/alpha`` (Karras et al. 2022, EDM, eq. 5); ``rho = 1`` is uniform
  in ``s``, the variable in which DDIM is Euler's method.
* ``"quadratic"`` -- uniform in ``sqrt(t)`` (Song et al. 2021, DDIM, App. D.2).

An explicit list of times is accepted by :func:`explicit_grid`.

Example:
    >>> from text2d3.solvers.schedules import VPLinear
    >>> ts = time_grid(VPLinear(), 4, "logsnr")
    >>> ts.shape, float(ts[0]), float(ts[-1])
    (torch.Size([5]), 1.0, 0.001)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.schedules import NoiseSchedule

GridKind = Literal["time", "logsnr", "karras", "quadratic"]
GRID_KINDS: tuple[str, ...] = get_args(GridKind)


def time_grid(
    schedule: NoiseSchedule,
    steps: int,
    kind: GridKind = "logsnr",
    *,
    t_start: float | None = None,
    t_end: float | None = None,
    rho: float = 7.0,
) -> Float[Tensor, " steps_plus_1"]:
    """``steps + 1`` decreasing float64 times from ``t_start`` (default ``schedule.t_max``) to
    ``t_end`` (default ``schedule.t_min``), spaced according to ``kind``."""
    if steps < 1:
        raise ValueError(f"time_grid: steps must be >= 1, got {steps}")
    t_hi = schedule.t_max if t_start is None else float(t_start)
    t_lo = schedule.t_min if t_end is None else float(t_end)
    if not t_hi > t_lo:
        raise ValueError(f"time_grid: need t_start > t_end, got {t_hi} and {t_lo}")
    ends = torch.tensor([t_hi, t_lo], dtype=torch.float64)
    frac = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if kind == "time":
        ts = t_hi + frac * (t_lo - t_hi)
    elif kind == "quadratic":
        ts = (math.sqrt(t_hi) + frac * (math.sqrt(t_lo) - math.sqrt(t_hi))) ** 2
    elif kind in ("logsnr", "karras"):
        lam = schedule.lambda_of(ends)
        if not bool(torch.isfinite(lam).all()):
            raise ValueError(
                f"time_grid: kind={kind!r} needs a finite log-SNR at both ends, got "
                f"lambda={lam.tolist()} "
                f"for t=({t_hi}, {t_lo}) on {type(schedule).__name__}; move t_start/t_end inside"
            )
        if kind == "logsnr":
            lams = lam[0] + frac * (lam[1] - lam[0])
        else:
            inv_hi, inv_lo = torch.exp(-lam / rho)  # s^(1/rho) with s = exp(-lambda)
            lams = -rho * torch.log(inv_hi + frac * (inv_lo - inv_hi))
        ts = schedule.t_of_lambda(lams)
    else:
        raise ValueError(f"time_grid: kind must be one of {GRID_KINDS}, got {kind!r}")
    ts[0], ts[-1] = t_hi, t_lo  # exact endpoints, free of round-trip error
    return ts


def explicit_grid(
    schedule: NoiseSchedule, times: Sequence[float] | Tensor
) -> Float[Tensor, " N_plus_1"]:
    """Validate a user-given grid: at least two strictly decreasing times inside the schedule."""
    ts = torch.as_tensor(times, dtype=torch.float64).flatten().clone()
    if ts.numel() < 2 or not bool((ts[1:] < ts[:-1]).all()):
        raise ValueError(f"explicit_grid: need >= 2 strictly decreasing times, got {ts.tolist()}")
    lo, hi = schedule.t_min, schedule.t_max
    if float(ts[0]) > hi + 1e-12 or float(ts[-1]) < lo - 1e-12:
        raise ValueError(
            f"explicit_grid: times must lie in [{lo}, {hi}] for {type(schedule).__name__}, "
            f"got [{float(ts[-1])}, {float(ts[0])}]"
        )
    return ts
