"""SDS gradient vs the gradient of its L2 form (float64, exact), weightings in closed form, and
the k-step target against a hand-written DDIM step."""

from __future__ import annotations

import pytest
import torch

from text2d3.dream.sds import (
    WEIGHTINGS,
    k_step_target,
    l2_coefficient,
    sds_gradient,
    sds_l2_loss,
    weight,
)
from text2d3.solvers import VPCosine, VPDiscrete, VPLinear
from text2d3.solvers.model import to_denoised

SCHEDULES = {
    "cosine": VPCosine(),
    "linear": VPLinear(),
    "discrete": VPDiscrete(torch.cumprod(1 - torch.linspace(1e-4, 2e-2, 1000,
                                                            dtype=torch.float64), 0)),
}


def _toy_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear "network" (any function of x_t and t will do)."""
    return torch.tanh(1.3 * x.roll(1, -1) - 0.4) * (0.5 + t.reshape(-1, 1, 1, 1))


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("schedule_name", sorted(SCHEDULES))
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_sds_gradient_equals_l2_gradient(weighting: str, schedule_name: str,
                                         prediction: str) -> None:
    schedule = SCHEDULES[schedule_name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64, generator=g).requires_grad_()
    eps = torch.randn(x.shape, dtype=torch.float64, generator=g)
    t = torch.tensor([0.05, 0.4, 0.93], dtype=torch.float64)
    a = schedule.alpha(t).reshape(-1, 1, 1, 1)
    s = schedule.sigma(t).reshape(-1, 1, 1, 1)
    x_t = a * x.detach() + s * eps
    denoised = to_denoised(_toy_model(x_t, t), x_t, t, schedule, prediction)

    loss = sds_l2_loss(x, denoised.x0, t, schedule, weighting)
    (l2_grad,) = torch.autograd.grad(loss, x)

    # DreamFusion eq. 3 written out: w(t) (eps_hat - eps), averaged like the loss.
    if weighting == "uniform":
        w = torch.ones_like(t)
    elif weighting == "sigma2":
        w = 1 - schedule.alpha(t) ** 2  # 1 - abar
    else:
        w = schedule.sigma(t) / schedule.alpha(t)
    reference = w.reshape(-1, 1, 1, 1) * (denoised.eps - eps) / eps.numel()
    torch.testing.assert_close(l2_grad, reference, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(sds_gradient(denoised.eps, eps, t, schedule, weighting),
                               reference, rtol=1e-10, atol=1e-14)


def test_l2_coefficient_is_sqrt_abar_over_one_minus_abar() -> None:
    schedule = SCHEDULES["discrete"]
    t = torch.linspace(0.01, 0.99, 7, dtype=torch.float64)
    abar = schedule.alpha(t) ** 2
    torch.testing.assert_close(l2_coefficient(t, schedule, "uniform"),
                               torch.sqrt(abar / (1 - abar)))
    torch.testing.assert_close(weight(t, schedule, "sigma2"), 1 - abar)
    torch.testing.assert_close(l2_coefficient(t, schedule, "snr"), torch.ones_like(t))
    with pytest.raises(ValueError, match="weighting"):
        weight(t, schedule, "bogus")


def test_target_gets_no_gradient() -> None:
    x = torch.zeros(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    target = torch.ones(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    sds_l2_loss(x, target, torch.tensor([0.5]), VPCosine(), "snr").backward()
    assert target.grad is None
    torch.testing.assert_close(x.grad, torch.full_like(x, -0.25))


def test_one_ddim_step_target_matches_hand_written_step() -> None:
    schedule = VPCosine()
    g = torch.Generator().manual_seed(1)
    x_t = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=g)
    t = 0.7
    tt = torch.tensor(t, dtype=torch.float64)
    out = k_step_target(_toy_model, x_t, t, schedule, "eps", steps=1, method="ddim")
    d = to_denoised(_toy_model(x_t, tt.expand(2)), x_t, tt, schedule, "eps")
    t_end = torch.tensor(schedule.t_min, dtype=torch.float64)
    expected = schedule.alpha(t_end) * d.x0 + schedule.sigma(t_end) * d.eps  # DDIM, eta = 0
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="steps"):
        k_step_target(_toy_model, x_t, t, schedule, "eps", steps=0)
