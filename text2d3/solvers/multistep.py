"""Fixed-coefficient linear multistep rules on a uniform step index, shared by PNDM/PLMS and the
momentum solvers.

Given the values ``v_n, v_(n-1), ..., v_(n-k+1)`` of an exponential moving average
``v_n = (1 - beta) v_(n-1) + beta f_n`` of samples ``f_n = f(n)``, :func:`momentum_ab_coefficients`
returns the ``c_j`` with ``sum_j c_j v_(n-j) = int_n^(n+1) f(u) du`` exactly whenever ``f`` is a
polynomial of degree ``< k``. The steady-state average of a polynomial is a polynomial ``q`` of
the same degree solving ``q(u) - (1 - beta) q(u - 1) = beta f(u)``; matching the ``k`` monomials
gives a ``k x k`` system.

* ``beta = 1`` gives the classical Adams-Bashforth weights (Hairer, Norsett & Wanner, "Solving
  ODEs I", III.1): ``[1]``, ``[3, -1]/2``, ``[23, -16, 5]/12``, ``[55, -59, 37, -9]/24``, used by
  PLMS (Liu et al. 2022, eq. 12).
* ``beta < 1`` gives the Generalised Heavy Ball (GHVB) rule of Wizadwongsa et al. 2023,
  "Diffusion Sampling with Momentum for Mitigating Divergence Artifacts", Sec. 4.2, whose
  order-2 weights are ``[(2 + beta), -(2 - beta)] / (2 beta)``.

Example:
    >>> [round(c, 6) for c in momentum_ab_coefficients(2, 1.0)]
    [1.5, -0.5]
"""

from __future__ import annotations

from functools import cache
from math import comb

import numpy as np


@cache
def momentum_ab_coefficients(order: int, beta: float) -> tuple[float, ...]:
    """Weights ``c_0 .. c_(order-1)`` (newest first) of the order-``order`` rule; see module doc."""
    if order < 1 or not 0.0 < beta <= 1.0:
        raise ValueError(
            f"momentum_ab_coefficients: need order >= 1 and 0 < beta <= 1, got {order}, {beta}"
        )
    k = order
    # shift[p, i]: coefficient of u^p in (u - 1)^i.
    shift = np.array([[comb(i, p) * (-1.0) ** (i - p) if p <= i else 0.0 for i in range(k)]
                      for p in range(k)])
    steady = np.eye(k) - (1.0 - beta) * shift
    q = np.linalg.solve(steady, beta * np.eye(k))  # column m: monomial coeffs of q for f = u^m
    nodes = -np.arange(k, dtype=np.float64)
    powers = nodes[None, :] ** np.arange(k)[:, None]  # [i, j]: (-j)^i
    q_at_nodes = q.T @ powers  # [m, j]: q_m(-j)
    targets = 1.0 / np.arange(1, k + 1)  # int_0^1 u^m du
    return tuple(float(c) for c in np.linalg.solve(q_at_nodes, targets))
