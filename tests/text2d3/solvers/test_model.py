import pytest
import torch

from text2d3.solvers.model import (
    PREDICTIONS,
    Denoiser,
    DynamicThreshold,
    classifier_free_guidance,
)
from text2d3.solvers.schedules import VE, RectifiedFlow, VPCosine, VPLinear
from text2d3.solvers.testbed import GaussianMixture
from text2d3.solvers.timeshift import TimeShift, time_shifted

TOL = dict(rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(), RectifiedFlow()],
                         ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_every_prediction_type_converts_to_the_exact_posterior(mixture, schedule, prediction):
    t = torch.tensor(0.37, dtype=torch.float64)
    x = mixture.sample_noised(8, schedule, 0.37, seed=1)
    out = Denoiser(mixture.model(schedule, prediction), schedule, prediction)(x, t)
    ref = mixture.posterior(x, schedule.alpha(t), schedule.sigma(t))
    torch.testing.assert_close(out.x0, ref.x0, **TOL)
    torch.testing.assert_close(out.eps, ref.eps, **TOL)


def test_rectified_flow_velocity_is_eps_minus_x0_and_regular_at_both_ends(mixture):
    flow = RectifiedFlow()
    for t in (0.0, 1.0):
        tt = torch.tensor(t, dtype=torch.float64)
        x = mixture.sample_noised(4, flow, t, seed=2)
        velocity = mixture.model(flow, "flow")(x, tt)
        x0, eps = Denoiser(mixture.model(flow, "flow"), flow, "flow")(x, tt)
        torch.testing.assert_close(velocity, eps - x0, **TOL)
        assert bool(torch.isfinite(velocity).all())


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_cfg_wrapper_matches_the_direct_formula_in_every_parametrisation(mixture, vp, prediction):
    other = GaussianMixture.random(3, 2, seed=9)
    t, scale = torch.tensor(0.4, dtype=torch.float64), 4.0
    x = mixture.sample_noised(8, vp, 0.4, seed=3)
    cond, uncond = mixture.model(vp, prediction), other.model(vp, prediction)
    guided = classifier_free_guidance(cond, uncond, scale)
    # Ho & Salimans 2022, eq. 6: (1 + w) c - w u with w = scale - 1.
    w = scale - 1.0
    torch.testing.assert_close(guided(x, t), (1 + w) * cond(x, t) - w * uncond(x, t), **TOL)
    # Guiding the raw output equals guiding eps after conversion.
    eps = [Denoiser(m, vp, prediction)(x, t).eps for m in (cond, uncond)]
    guided_eps = Denoiser(guided, vp, prediction)(x, t).eps
    torch.testing.assert_close(guided_eps, eps[1] + scale * (eps[0] - eps[1]), **TOL)


def test_dynamic_threshold_bounds_x0_and_leaves_in_range_data_alone():
    threshold = DynamicThreshold(ratio=0.9, max_value=1.0)
    gen = torch.Generator().manual_seed(0)
    big = 3.0 * torch.randn(4, 1000, generator=gen, dtype=torch.float64)
    assert float(threshold(big).abs().max()) <= 1.0 + 1e-12
    small = 0.5 * torch.rand(4, 1000, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(threshold(small), small)


def test_threshold_keeps_denoised_pair_consistent(mixture, vp):
    t = torch.tensor(0.1, dtype=torch.float64)
    x = 5.0 * mixture.sample_noised(8, vp, 0.1, seed=4)
    out = Denoiser(mixture.model(vp, "eps"), vp, "eps", DynamicThreshold(0.5, 0.2))(x, t)
    assert float(out.x0.abs().max()) <= 0.2 + 1e-12
    torch.testing.assert_close(vp.alpha(t) * out.x0 + vp.sigma(t) * out.eps, x, **TOL)


def test_time_shift_picks_the_time_whose_noise_matches_the_sample_variance():
    vp = VPLinear()
    seen = []
    config = TimeShift(window=0.2, cutoff=0.3, candidates=401)
    shifted = time_shifted(lambda x, t: seen.append(t) or x, vp, config)
    gen = torch.Generator().manual_seed(0)
    target_t = torch.tensor([0.45, 0.6], dtype=torch.float64)
    z = torch.randn(2, 200_000, generator=gen, dtype=torch.float64)
    z = (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True)
    x = vp.sigma(target_t)[:, None] * z  # per-sample variance = sigma(target)^2 exactly
    shifted(x, torch.tensor(0.5, dtype=torch.float64))
    torch.testing.assert_close(seen[-1], target_t, rtol=0, atol=1e-3)
    shifted(x, torch.tensor(0.25, dtype=torch.float64))  # below the cutoff: untouched
    assert seen[-1].ndim == 0 and float(seen[-1]) == 0.25
