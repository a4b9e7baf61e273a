"""UniPC in data form (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for
Fast Sampling of Diffusion Models", NeurIPS; Algorithms 2 and 3, data-prediction variant).

With ``x0`` values ``m_0`` (at ``lambda_s``) and ``m_k`` at ``lambda_s + r_k h``, differences
``D_k = (m_k - m_0) / r_k`` and ``B(h) = h`` (``bh1``) or ``1 - e^{-h}`` (``bh2``), an update is

    x_t = (sigma_t/sigma_s) x_s + alpha_t (h phi_1(-h) m_0 + B(h) sum_k a_k D_k),
    sum_k a_k r_k^(n-1) = n! h phi_(n+1)(-h) / B(h),   n = 1 .. K   (K unknowns, eq. 8).

* UniP-p (predictor): the ``p - 1`` previous points, order ``p``.
* UniC (corrector): the same points plus the model value at the predicted ``x_t`` (``r = 1``),
  order ``p + 1``. That evaluation is reused by the next step, so the corrector is free; the
  last step is not corrected. NFE = steps.

As in the paper, a system with a single unknown (UniP-2, UniC-1) uses ``a = 1/2``, its ``h -> 0``
limit; larger systems are solved exactly, which makes ``B(h)`` cancel, so ``bh1`` and ``bh2``
differ only through those single-unknown updates. Warm-up uses orders 1, 2, ... up to ``order``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.solvers.expint import Step, phi, step_values
from text2d3.solvers.model import Denoiser


def unipc_update(
    x_s: Tensor,
    step: Step,
    m0: Tensor,
    others: list[tuple[float, Tensor]],
    variant: Literal["bh1", "bh2"],
) -> Tensor:
    """One UniP/UniC update from ``x_s`` using ``m0`` and ``others = [(r_k, m_k), ...]``."""
    h = step.h
    x_t = step.sigma_t / step.sigma_s * x_s + step.alpha_t * h * phi(1, -h) * m0
    if not others:
        return x_t
    b_h = h if variant == "bh1" else -math.expm1(-h)
    r = torch.tensor([r_k for r_k, _ in others], dtype=torch.float64)
    n = len(others)
    powers = r[None, :] ** torch.arange(n, dtype=torch.float64)[:, None]  # [n-1 power, k]
    rhs = torch.tensor([math.factorial(j) * h * phi(j + 1, -h) / b_h for j in range(1, n + 1)],
                       dtype=torch.float64)
    # One unknown (UniP-2, UniC-1): the paper's simplified weight 1/2, the h -> 0 limit of the exact
    # one; this is the only place where the choice of B(h) changes the result.
    a = [0.5] if n == 1 else torch.linalg.solve(powers, rhs).tolist()
    correction = sum(a_k * (m_k - m0) / r_k for a_k, (r_k, m_k) in zip(a, others, strict=True))
    return x_t + step.alpha_t * b_h * correction


def unipc(
    denoise: Denoiser,
    x: Float[Tensor, "B ..."],
    ts: Float[Tensor, " N_plus_1"],
    *,
    variant: Literal["bh1", "bh2"] = "bh2",
    order: int = 2,
    corrector: bool = True,
) -> Float[Tensor, "B ..."]:
    """UniPC-``order`` (UniP-``order`` + UniC) over the grid ``ts``; global order ``order + 1``
    with the corrector (see the warm-up note in ``BENCHMARKS.md``)."""
    if variant not in ("bh1", "bh2") or order not in (1, 2, 3):
        raise ValueError(
            f"unipc: need variant in ('bh1', 'bh2') and order in 1..3, got {variant!r}, {order}"
        )
    history: list[tuple[float, Tensor]] = []  # (lambda_k, x0_k), newest first
    previous: tuple[Tensor, Step, list[tuple[float, Tensor]]] | None = None
    for s, t in zip(ts[:-1], ts[1:], strict=True):
        step = step_values(denoise.schedule, s, t, solver=f"unipc_{variant}")
        m_s = denoise(x, s).x0
        if corrector and previous is not None:
            x_prev, prev_step, prev_history = previous
            m0 = prev_history[0][1]
            others = [((lam - prev_step.lambda_s) / prev_step.h, m) for lam, m in prev_history[1:]]
            x = unipc_update(x_prev, prev_step, m0, [*others, (1.0, m_s)], variant)
        history = [(step.lambda_s, m_s), *history][:order]
        previous = (x, step, history)
        others = [((lam - step.lambda_s) / step.h, m) for lam, m in history[1:]]
        x = unipc_update(x, step, m_s, others, variant)
    return x
