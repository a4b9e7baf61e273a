"""Public entry point: :func:`sample` and the explicit method table :data:`METHODS`.

=============  ======================================  ==========================  =====
method         solver (paper)                          NFE for ``steps = N``       order
=============  ======================================  ==========================  =====
ddim           DDIM, eta (Song et al. 2021)            N                           1
pndm           F-PNDM / PLMS (Liu et al. 2022)         N + 9 (rk4, N>=3), N (PLMS) 4 [a]
deis1..3       tAB / logrho DEIS (Zhang & Chen 2023)   N                           1..3
dpmsolver1..3  singlestep DPM-Solver (Lu et al. 2022)  N, 2N, 3N (sum(orders))     1..3
dpmpp2m        DPM-Solver++(2M) (Lu et al. 2022b)      N                           2
dpmpp3m        DPM-Solver++(3M)                        N                           3
dpmpp2s        DPM-Solver++(2S)                        2N (sum(orders))            2
unipc_bh1/bh2  UniPC-2 (Zhao et al. 2023)              N                           3
ghvb           GHVB-2 / heavy ball (Wizadwongsa 2023)  N                           2 [b]
euler          Euler in t (flow matching)              N                           1
heun           Heun in t (EDM Alg. 1)                  2N (2N - 1 into sigma = 0)  2
midpoint       explicit midpoint in t                  2N                          2
=============  ======================================  ==========================  =====

[a] on grids uniform in ``sigma/alpha`` (``karras`` with ``rho = 1``); 2 on other grids.
[b] GHVB-k has order k on grids uniform in ``sigma/alpha``, at most 2 elsewhere; heavy ball 1.

Multistep methods start with lower orders, which caps them at order 2 when the first step is
not at near-pure noise (see ``BENCHMARKS.md``).

Example:
    >>> from text2d3.solvers.schedules import VPLinear
    >>> from text2d3.solvers.testbed import GaussianMixture
    >>> gm = GaussianMixture.random(dim=2, components=2)
    >>> x_T = gm.sample_noised(8, VPLinear(), 1.0)
    >>> model = gm.model(VPLinear(), "eps")
    >>> sample(model, x_T, schedule=VPLinear(), steps=10, method="dpmpp2m").shape
    torch.Size([8, 2])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.ddim import ddim
from text2d3.solvers.deis import deis
from text2d3.solvers.dpm_solver import dpm_solver
from text2d3.solvers.dpm_solver_pp import dpmpp_2m, dpmpp_2s, dpmpp_3m
from text2d3.solvers.flow import euler, heun, midpoint
from text2d3.solvers.grids import GridKind, explicit_grid, time_grid
from text2d3.solvers.model import Denoiser, DynamicThreshold, ModelFn, Prediction
from text2d3.solvers.momentum import ghvb
from text2d3.solvers.pndm import pndm
from text2d3.solvers.schedules import NoiseSchedule
from text2d3.solvers.unipc import unipc

Solver = Callable[..., Tensor]


@dataclass(frozen=True)
class Method:
    """One row of :data:`METHODS`."""

    solver: Solver
    """``solver(denoise, x, ts, **options) -> x`` (fixed options already bound)."""
    nfe: Callable[[int, Mapping[str, Any], bool], int]
    """Model evaluations for ``(steps, options, grid ends at sigma = 0)``."""
    order: int
    """Global order with default options on a uniform-logSNR grid (measured by the tests)."""
    grid: GridKind = "logsnr"
    """Default time grid."""
    options: tuple[str, ...] = field(default=())
    """Keyword options the caller may pass."""


def _per_step(k: int) -> Callable[[int, Mapping[str, Any], bool], int]:
    def nfe(steps: int, options: Mapping[str, Any], to_data: bool = False) -> int:
        orders = options.get("orders")  # singlestep solvers with mixed orders
        return k * steps if orders is None else sum(orders)

    return nfe


def _heun_nfe(steps: int, options: Mapping[str, Any], to_data: bool = False) -> int:
    return 2 * steps - int(to_data)


def _pndm_nfe(steps: int, options: Mapping[str, Any], to_data: bool = False) -> int:
    if options.get("warmup", "rk4") == "lower_order":
        return steps
    return steps + 3 * min(steps, 3)


def _options(solver: Solver) -> tuple[str, ...]:
    params = inspect.signature(solver).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _method(solver: Solver, nfe: Callable[[int, Mapping[str, Any], bool], int], order: int,
            grid: GridKind = "logsnr", /, **fixed: Any) -> Method:
    bound = partial(solver, **fixed) if fixed else solver
    return Method(bound, nfe, order, grid, tuple(o for o in _options(solver) if o not in fixed))


METHODS: dict[str, Method] = {
    "ddim": _method(ddim, _per_step(1), 1),
    "pndm": _method(pndm, _pndm_nfe, 2),
    "deis1": _method(deis, _per_step(1), 1, order=1),
    "deis2": _method(deis, _per_step(1), 2, order=2),
    "deis3": _method(deis, _per_step(1), 3, order=3),
    "dpmsolver1": _method(dpm_solver, _per_step(1), 1, order=1),
    "dpmsolver2": _method(dpm_solver, _per_step(2), 2, order=2),
    "dpmsolver3": _method(dpm_solver, _per_step(3), 3, order=3),
    "dpmpp2m": _method(dpmpp_2m, _per_step(1), 2),
    "dpmpp3m": _method(dpmpp_3m, _per_step(1), 3),
    "dpmpp2s": _method(dpmpp_2s, _per_step(2), 2),
    "unipc_bh1": _method(unipc, _per_step(1), 3, variant="bh1"),
    "unipc_bh2": _method(unipc, _per_step(1), 3, variant="bh2"),
    "ghvb": _method(ghvb, _per_step(1), 2),
    "euler": _method(euler, _per_step(1), 1, "time"),
    "heun": _method(heun, _heun_nfe, 2, "time"),
    "midpoint": _method(midpoint, _per_step(2), 2, "time"),
}
"""Every method of :func:`sample`, by name."""


def sample(
    model: ModelFn,
    x_T: Float[Tensor, "B ..."],
    *,
    schedule: NoiseSchedule,
    steps: int,
    method: str,
    prediction: Prediction = "eps",
    grid: GridKind | Sequence[float] | Tensor | None = None,
    t_start: float | None = None,
    t_end: float | None = None,
    threshold: DynamicThreshold | None = None,
    **options: Any,
) -> Float[Tensor, "B ..."]:
    """Solve the probability-flow ODE from ``x_T`` at ``t_start`` to ``t_end`` with ``method``.

    Args:
        model: ``model(x, t) -> prediction`` (wrap it with
            :func:`~text2d3.solvers.model.classifier_free_guidance` or
            :func:`~text2d3.solvers.timeshift.time_shifted` as needed).
        x_T: starting sample ``[B, ...]`` at ``t_start``.
        schedule: the model's noise schedule.
        steps: number of solver steps (see the module table for the NFE each method spends).
        method: a key of :data:`METHODS`.
        prediction: what ``model`` predicts: ``"eps"``, ``"x0"``, ``"v"`` or ``"flow"``.
        grid: a grid kind (default: the method's, ``"logsnr"`` or ``"time"`` for flow solvers)
            or an explicit decreasing list of ``steps + 1`` times.
        t_start, t_end: grid ends for a grid kind (default ``schedule.t_max``, ``schedule.t_min``).
        threshold: dynamic thresholding of ``x0`` for pixel-space models (DPM-Solver++, Sec. 6).
        **options: the method's own options, e.g. ``eta`` and ``generator`` (ddim), ``warmup``
            (pndm), ``order``/``beta``/``variant`` (ghvb), ``order``/``corrector`` (unipc),
            ``orders`` and ``spacing`` (per-step orders for an exact NFE budget, placement of the
            intermediate points: dpmsolver1..3, dpmpp2s), ``variable`` (deis: ``"t"``/``"logrho"``).

    Returns:
        The sample at ``t_end`` (the last grid time).
    """
    if method not in METHODS:
        raise ValueError(f"sample: method must be one of {sorted(METHODS)}, got {method!r}")
    spec = METHODS[method]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise TypeError(f"sample: method {method!r} accepts options {spec.options}, got {unknown}")
    if grid is None or isinstance(grid, str):
        ts = time_grid(schedule, steps, grid or spec.grid, t_start=t_start, t_end=t_end)
    else:
        if t_start is not None or t_end is not None:
            raise ValueError("sample: t_start/t_end go with a grid kind, not an explicit grid")
        ts = explicit_grid(schedule, grid)
        if ts.numel() != steps + 1:
            raise ValueError(
                f"sample: explicit grid has {ts.numel()} times, expected steps + 1 = {steps + 1}"
            )
    denoise = Denoiser(model, schedule, prediction, threshold)
    with torch.no_grad():
        return spec.solver(denoise, x_T, ts, **options)
