import pytest
import torch

from text2d3.solvers.grids import explicit_grid, time_grid
from text2d3.solvers.schedules import VE, RectifiedFlow, VPCosine, VPDiscrete, VPLinear

DISCRETE = VPDiscrete(torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0))
SCHEDULES = [VPLinear(), VPCosine(), DISCRETE, VE(), RectifiedFlow()]
TOL = dict(rtol=1e-9, atol=1e-11)


def interior(schedule, n=9):
    lo, hi = max(schedule.t_min, 2e-3), min(schedule.t_max, 0.99)
    return torch.linspace(lo, hi, n, dtype=torch.float64)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_lambda_round_trip_and_monotone(schedule):
    t = interior(schedule)
    lam = schedule.lambda_of(t)
    assert bool((lam[1:] < lam[:-1]).all())
    torch.testing.assert_close(schedule.t_of_lambda(lam), t, **TOL)
    torch.testing.assert_close(lam, torch.log(schedule.alpha(t) / schedule.sigma(t)), **TOL)


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(), RectifiedFlow()],
                         ids=lambda s: type(s).__name__)
def test_derivatives_match_finite_differences(schedule):
    t, e = interior(schedule), 1e-6
    for f, df in [(schedule.alpha, schedule.d_alpha), (schedule.sigma, schedule.d_sigma)]:
        central = (f(t + e) - f(t - e)) / (2 * e)
        torch.testing.assert_close(df(t), central, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), DISCRETE],
                         ids=lambda s: type(s).__name__)
def test_vp_preserves_variance(schedule):
    t = interior(schedule)
    total = schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2
    torch.testing.assert_close(total, torch.ones_like(t), **TOL)


def test_discrete_schedule_hits_the_table_at_the_knots():
    n = torch.tensor([0, 1, 500, 999])
    t = (n + 1).to(torch.float64) / 1000
    torch.testing.assert_close(DISCRETE.alpha(t) ** 2, DISCRETE.alphas_cumprod[n], **TOL)
    torch.testing.assert_close(DISCRETE.timestep(t), n.to(torch.float64))
    with pytest.raises(ValueError, match="strictly decreasing"):
        VPDiscrete(torch.tensor([0.5, 0.9]))


@pytest.mark.parametrize("kind", ["time", "logsnr", "karras", "quadratic"])
def test_grids_are_decreasing_with_exact_ends_and_uniform_in_their_variable(kind):
    s = VPLinear()
    ts = time_grid(s, 12, kind, t_start=0.9, t_end=0.01)
    assert ts.shape == (13,) and float(ts[0]) == 0.9 and float(ts[-1]) == 0.01
    assert bool((ts[1:] < ts[:-1]).all())
    variable = {"time": ts, "logsnr": s.lambda_of(ts), "quadratic": ts.sqrt(),
                "karras": torch.exp(-s.lambda_of(ts) / 7.0)}[kind]
    steps = variable.diff()
    torch.testing.assert_close(steps, steps.mean().expand(12), rtol=1e-9, atol=1e-12)


def test_grid_errors_are_specific():
    with pytest.raises(ValueError, match="finite log-SNR"):
        time_grid(RectifiedFlow(), 4, "logsnr")
    with pytest.raises(ValueError, match="strictly decreasing"):
        explicit_grid(VPLinear(), [0.5, 0.6])
    with pytest.raises(ValueError, match="must lie in"):
        explicit_grid(VPLinear(), [2.0, 0.5])
