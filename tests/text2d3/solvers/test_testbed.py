import pytest
import torch

from text2d3.solvers.schedules import VE, RectifiedFlow, VPCosine, VPLinear
from text2d3.solvers.testbed import GaussianMixture


def noised_log_density(gm, x, alpha, sigma):
    cov = alpha**2 * gm.covariances + sigma**2 * torch.eye(gm.dim, dtype=torch.float64)
    comps = torch.distributions.MultivariateNormal(alpha * gm.means, covariance_matrix=cov)
    return torch.logsumexp(torch.log(gm.weights) + comps.log_prob(x[:, None, :]), dim=1)


@pytest.mark.parametrize("t", [0.05, 0.3, 0.8])
def test_posterior_noise_is_the_scaled_score(mixture, vp, t):
    # Tweedie: E[eps | x] = -sigma grad log p_t(x); E[x0 | x] = (x - sigma E[eps | x]) / alpha.
    tt = torch.tensor(t, dtype=torch.float64)
    alpha, sigma = vp.alpha(tt), vp.sigma(tt)
    x = mixture.sample_noised(16, vp, t, seed=3).requires_grad_(True)
    (score,) = torch.autograd.grad(noised_log_density(mixture, x, alpha, sigma).sum(), x)
    x0, eps = mixture.posterior(x.detach(), alpha, sigma)
    torch.testing.assert_close(eps, -sigma * score, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(alpha * x0 + sigma * eps, x.detach(), rtol=1e-12, atol=1e-12)


def test_posterior_accepts_per_sample_noise_levels(mixture, vp):
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)
    x = mixture.sample_noised(2, vp, 0.5, seed=4)
    both = mixture.posterior(x, vp.alpha(t), vp.sigma(t))
    for i in range(2):
        one = mixture.posterior(x[i:i + 1], vp.alpha(t[i]), vp.sigma(t[i]))
        torch.testing.assert_close(both.x0[i:i + 1], one.x0)


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(), RectifiedFlow()],
                         ids=lambda s: type(s).__name__)
def test_closed_form_gaussian_flow_matches_dop853(mixture, schedule):
    one = GaussianMixture(torch.ones(1), mixture.means[:1], mixture.covariances[:1])
    # The same law with two identical components is forced through DOP853.
    twin = GaussianMixture(torch.ones(2), mixture.means[:1].repeat(2, 1),
                           mixture.covariances[:1].repeat(2, 1, 1))
    x = one.sample_noised(8, schedule, schedule.t_max, seed=5)
    closed = one.flow_map(x, schedule, schedule.t_max, schedule.t_min)
    numeric = twin.flow_map(x, schedule, schedule.t_max, schedule.t_min)
    torch.testing.assert_close(closed, numeric, rtol=0, atol=1e-8)


def test_gaussian_flow_map_transports_the_marginal(mixture, vp):
    one = GaussianMixture(torch.ones(1), mixture.means[:1], mixture.covariances[:1])
    x = one.sample_noised(20000, vp, 1.0, seed=6)
    y = one.flow_map(x, vp, 1.0, 0.2)
    t = torch.tensor(0.2, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    cov = vp.alpha(t) ** 2 * one.covariances[0] + vp.sigma(t) ** 2 * eye
    torch.testing.assert_close(y.mean(0), vp.alpha(t) * one.means[0], rtol=0, atol=0.05)
    torch.testing.assert_close(torch.cov(y.T), cov, rtol=0, atol=0.05)


def test_mixture_reference_is_converged_under_refinement(mixture, vp):
    x = mixture.sample_noised(16, vp, 1.0, seed=7)
    coarse = mixture.flow_map(x, vp, 1.0, vp.t_min, rtol=1e-10, atol=1e-10)
    fine = mixture.flow_map(x, vp, 1.0, vp.t_min, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(coarse, fine, rtol=0, atol=1e-8)
