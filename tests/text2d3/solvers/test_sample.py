import pytest
import torch

from text2d3.solvers import (
    METHODS,
    PREDICTIONS,
    VE,
    RectifiedFlow,
    TimeShift,
    VPLinear,
    sample,
    time_grid,
    time_shifted,
)
from text2d3.solvers.testbed import GaussianMixture, rms_error

# Closed-form single-Gaussian endpoint reached to within these errors after 50 steps.
GAUSSIAN_BOUND = {1: 1e-1, 2: 1e-2, 3: 2e-3}


@pytest.fixture(scope="module")
def gaussian(mixture):
    return GaussianMixture(torch.ones(1), mixture.means[:1], mixture.covariances[:1])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_single_gaussian_reaches_the_closed_form_endpoint(gaussian, vp, method):
    x = gaussian.sample_noised(32, vp, 1.0, seed=1)
    exact = gaussian.gaussian_flow_map(x, vp, 1.0, vp.t_min)
    out = sample(gaussian.model(vp, "eps"), x, schedule=vp, steps=50, method=method)
    assert rms_error(out, exact) < GAUSSIAN_BOUND[METHODS[method].order]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_nfe_matches_the_table(mixture, vp, method):
    calls = []
    model = mixture.model(vp, "eps")

    def counted(x, t):
        calls.append(t)
        return model(x, t)

    x = mixture.sample_noised(4, vp, 1.0)
    for steps in (1, 7):
        calls.clear()
        sample(counted, x, schedule=vp, steps=steps, method=method)
        assert len(calls) == METHODS[method].nfe(steps, {}, False)


@pytest.mark.parametrize(("method", "orders"), [("dpmsolver3", [3, 3, 2]), ("dpmsolver2", [2, 1]),
                                                ("dpmpp2s", [2, 2, 1])])
def test_mixed_singlestep_orders_spend_their_sum(mixture, vp, method, orders):
    calls = []
    model = mixture.model(vp, "eps")
    x = mixture.sample_noised(4, vp, 1.0)
    sample(lambda x, t: calls.append(t) or model(x, t), x, schedule=vp, steps=len(orders),
           method=method, orders=orders)
    assert len(calls) == METHODS[method].nfe(len(orders), {"orders": orders}, False) == sum(orders)
    with pytest.raises(ValueError, match="orders must be"):
        sample(model, x, schedule=vp, steps=len(orders), method=method, orders=[4] * len(orders))


def test_heun_into_pure_data_ends_with_an_euler_step(mixture):
    flow, calls = RectifiedFlow(), []
    model = mixture.model(flow, "flow")
    x = mixture.sample_noised(4, flow, 1.0)
    sample(lambda x, t: calls.append(t) or model(x, t), x, schedule=flow, steps=5,
           method="heun", prediction="flow")
    assert len(calls) == METHODS["heun"].nfe(5, {}, True) == 9


@pytest.mark.parametrize("method", ["ddim", "dpmpp3m", "unipc_bh2", "dpmsolver3", "heun"])
def test_prediction_types_give_the_same_trajectory(mixture, vp, method):
    x = mixture.sample_noised(8, vp, 1.0, seed=2)
    outs = [sample(mixture.model(vp, p), x, schedule=vp, steps=8, method=method, prediction=p)
            for p in PREDICTIONS]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("method", "options"), [
    ("dpmpp2m", {}), ("dpmpp3m", {}), ("dpmsolver2", {}), ("unipc_bh1", {}), ("pndm", {}),
    ("deis3", {"variable": "logrho"}),
])
def test_log_snr_solvers_are_schedule_invariant(mixture, method, options):
    # The same lambda grid under VP, VE and rectified flow gives the same x / alpha. (tAB-DEIS is
    # not invariant: it extrapolates eps polynomially in the schedule's own time t.)
    lams = torch.linspace(-2.0, 3.0, 9, dtype=torch.float64)
    y = mixture.sample_noised(8, VE(), float(VE().t_of_lambda(lams[0])), seed=3)
    results = []
    for schedule in (VPLinear(), VE(), RectifiedFlow()):
        ts = schedule.t_of_lambda(lams)
        x_T = schedule.alpha(ts[0]) * y
        out = sample(mixture.model(schedule, "eps"), x_T, schedule=schedule, steps=8,
                     method=method, grid=ts, **options)
        results.append(out / schedule.alpha(ts[-1]))
    for out in results[1:]:
        torch.testing.assert_close(out, results[0], rtol=1e-9, atol=1e-9)


def test_ddim_eta_one_transports_the_marginal(gaussian, vp):
    x = gaussian.sample_noised(8000, vp, 1.0, seed=4)
    gen = torch.Generator().manual_seed(0)
    out = sample(gaussian.model(vp, "eps"), x, schedule=vp, steps=100, method="ddim", eta=1.0,
                 generator=gen, t_end=0.2)
    t = torch.tensor(0.2, dtype=torch.float64)
    cov = vp.alpha(t) ** 2 * gaussian.covariances[0] + vp.sigma(t) ** 2 * torch.eye(3).double()
    torch.testing.assert_close(out.mean(0), vp.alpha(t) * gaussian.means[0], rtol=0, atol=0.06)
    torch.testing.assert_close(torch.cov(out.T), cov, rtol=0, atol=0.06)


def test_time_shift_with_an_empty_window_is_the_plain_solver(mixture, vp):
    x = mixture.sample_noised(8, vp, 1.0, seed=5)
    model = mixture.model(vp, "eps")
    plain = sample(model, x, schedule=vp, steps=6, method="dpmpp2m")
    shifted = sample(time_shifted(model, vp, TimeShift(window=0.0, cutoff=0.0)), x, schedule=vp,
                     steps=6, method="dpmpp2m")
    torch.testing.assert_close(shifted, plain)


def test_explicit_grid_equals_the_named_grid(mixture, vp):
    x = mixture.sample_noised(4, vp, 1.0, seed=6)
    model = mixture.model(vp, "eps")
    named = sample(model, x, schedule=vp, steps=5, method="unipc_bh2", grid="karras")
    explicit = sample(model, x, schedule=vp, steps=5, method="unipc_bh2",
                      grid=time_grid(vp, 5, "karras").tolist())
    torch.testing.assert_close(named, explicit)


def test_errors_name_what_is_wrong(mixture, vp):
    x = mixture.sample_noised(4, vp, 1.0)
    model = mixture.model(vp, "eps")
    with pytest.raises(ValueError, match="method must be one of"):
        sample(model, x, schedule=vp, steps=4, method="dpm++")
    with pytest.raises(TypeError, match="accepts options"):
        sample(model, x, schedule=vp, steps=4, method="dpmpp2m", eta=0.5)
    with pytest.raises(ValueError, match="steps \\+ 1"):
        sample(model, x, schedule=vp, steps=4, method="ddim", grid=[1.0, 0.5, 0.1])
    flow = RectifiedFlow()
    with pytest.raises(ValueError, match="finite lambda"):
        sample(mixture.model(flow, "flow"), x, schedule=flow, steps=4, method="dpmpp2m",
               prediction="flow", grid="time")
