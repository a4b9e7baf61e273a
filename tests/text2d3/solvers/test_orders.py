"""Measured convergence orders against the exact mixture reference.

The slope of log(error) against log(steps) must be within 0.3 of the theoretical order.
"""

import math

import numpy as np
import pytest

from text2d3.solvers import METHODS, VE, RectifiedFlow, sample, time_grid
from text2d3.solvers.testbed import rms_error

SLOPE_TOL = 0.3
STEPS = [20, 28, 40, 56, 80]

# METHODS[m].order is the order on the uniform-logSNR grid from pure noise. Multistep methods
# start with lower orders; the first step's local error is O(h^2) times d(x0)/d(lambda), of size
# e^(2 lambda_T) ~ 5e-5 here, so it stays invisible (see the warm-up test at the end). PLMS-type
# rules (pndm, ghvb) have constant Adams-Bashforth weights: order 2 on this grid.


def slope(steps, errors):
    return -float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


@pytest.fixture(scope="module")
def problem(mixture, vp):
    x = mixture.sample_noised(32, vp, vp.t_max, seed=1)
    return x, mixture.flow_map(x, vp, vp.t_max, vp.t_min, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_order_on_logsnr_grid(mixture, vp, problem, method):
    x, ref = problem
    model = mixture.model(vp, "eps")
    errors = [rms_error(sample(model, x, schedule=vp, steps=n, method=method, grid="logsnr"), ref)
              for n in STEPS]
    assert abs(slope(STEPS, errors) - METHODS[method].order) < SLOPE_TOL, errors


@pytest.mark.parametrize(("method", "options", "order"), [
    ("deis2", {"variable": "logrho"}, 2),
    ("dpmsolver2", {"spacing": "time"}, 2),
    ("dpmpp2s", {"spacing": "time"}, 2),
    ("unipc_bh2", {"order": 3}, 4),  # UniPC-3 = UniP-3 + UniC: order 4
])
def test_order_of_method_variants(mixture, vp, problem, method, options, order):
    x, ref = problem
    model = mixture.model(vp, "eps")
    errors = [rms_error(sample(model, x, schedule=vp, steps=n, method=method, **options), ref)
              for n in STEPS]
    assert abs(slope(STEPS, errors) - order) < SLOPE_TOL, errors


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("midpoint", 2)])
def test_flow_solvers_on_rectified_flow_from_noise_to_data(mixture, method, order):
    flow = RectifiedFlow()
    x = mixture.sample_noised(32, flow, 1.0, seed=2)
    ref = mixture.flow_map(x, flow, 1.0, 0.0, rtol=1e-12, atol=1e-12)
    model = mixture.model(flow, "flow")
    errors = [rms_error(sample(model, x, schedule=flow, steps=n, method=method, prediction="flow"),
                        ref) for n in STEPS]
    assert abs(slope(STEPS, errors) - order) < SLOPE_TOL, errors


# Equal steps in S = sigma/alpha (Karras, rho = 1) are where the fixed Adams-Bashforth weights of
# PLMS and GHVB are exact; VE with a moderate sigma_max makes the warm-up visible.
UNIFORM_S_STEPS = [113, 160, 226, 320, 452]
UNIFORM_S_CASES = [
    ("pndm", {"warmup": "rk4"}, 4),  # F-PNDM: RK4 warm-up keeps fourth order
    ("pndm", {"warmup": "lower_order"}, 2),  # PLMS started with AB1: capped at 2
    ("ghvb", {"order": 1, "beta": 0.5}, 1),  # heavy ball = GHVB-1
    ("ghvb", {"order": 2, "beta": 0.8}, 2),
    ("ghvb", {"order": 2, "beta": 0.8, "variant": "heavy_ball"}, 1),
]


def case_id(value):
    return "-".join(map(str, value.values())) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize(("method", "options", "order"), UNIFORM_S_CASES, ids=case_id)
def test_plms_family_order_on_grid_uniform_in_sigma_over_alpha(mixture, method, options, order):
    ve = VE(sigma_min=0.1, sigma_max=3.0)
    x = mixture.sample_noised(16, ve, 1.0, seed=3)
    ref = mixture.flow_map(x, ve, 1.0, 0.0, rtol=1e-12, atol=1e-12)
    model = mixture.model(ve, "eps")
    errors = [rms_error(sample(model, x, schedule=ve, steps=n, method=method,
                               grid=time_grid(ve, n, "karras", rho=1.0), **options), ref)
              for n in UNIFORM_S_STEPS]
    assert abs(slope(UNIFORM_S_STEPS, errors) - order) < SLOPE_TOL, errors


def test_lower_order_warmup_caps_a_multistep_method_at_order_two(mixture):
    # From a moderate noise level the first (Euler) step's O(h^2) local error dominates:
    # DPM-Solver++(3M) then converges at order 2, exactly as the warm-up analysis predicts.
    ve = VE(sigma_min=0.1, sigma_max=3.0)
    x = mixture.sample_noised(16, ve, 1.0, seed=3)
    ref = mixture.flow_map(x, ve, 1.0, 0.0, rtol=1e-12, atol=1e-12)
    steps = [160, 226, 320, 452, 640]
    errors = [rms_error(sample(mixture.model(ve, "eps"), x, schedule=ve, steps=n,
                               method="dpmpp3m"), ref) for n in steps]
    assert abs(slope(steps, errors) - 2) < SLOPE_TOL, errors
    assert math.isfinite(errors[-1])
