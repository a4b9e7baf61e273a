"""An exact, camera-aware image prior for testing score distillation without a learned model.

Given a known target scene, the "data" seen from camera ``c`` is Gaussian,
``x0 ~ N(mu_c, s^2 I)`` with ``mu_c`` the target's render from ``c`` (in ``[-1, 1]`` model
space). Under ``x_t = alpha x0 + sigma eps`` the posterior mean is closed form::

    E[x0 | x_t] = mu_c + alpha s^2 / (alpha^2 s^2 + sigma^2) (x_t - alpha mu_c)

so the denoiser is exact at every ``t``, and distilling it over random cameras should
reconstruct the target: it tests the SDS/L2 machinery, the annealing, the camera sampler and
the rasterizer's gradients together (issue #7, proof 1). The prompts are ignored.

Example:
    >>> from splat3d.gaussians import Gaussians
    >>> guide = AnalyticGuide(Gaussians.random_sphere(50, 0.5, sh_degree=0))
    >>> guide.prediction
    'x0'
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.gaussians import Gaussians
from splat3d.rasterize import rasterize
from text2d3.dream.cameras import SampledViews
from text2d3.procedural import BACKGROUND
from text2d3.solvers import NoiseSchedule, VPCosine
from text2d3.solvers.model import ModelFn, per_sample


class AnalyticGuide:
    """The :class:`~text2d3.dream.guidance.Guide` of ``x0 ~ N(render(target, camera), s^2 I)``."""

    prediction = "x0"
    open_vocabulary = True

    def __init__(self, target: Gaussians, *, data_std: float = 0.05,
                 background: tuple[float, float, float] = BACKGROUND,
                 schedule: NoiseSchedule | None = None) -> None:
        """Args:
            target: the scene whose renders are the data means.
            data_std: ``s``, the data standard deviation in model units (``[-1, 1]`` range).
            background: colour behind the target's renders (use the same in distillation).
            schedule: forward process (default the cosine VP schedule of the embedded priors).
        """
        if data_std <= 0:
            raise ValueError(f"AnalyticGuide: data_std must be positive, got {data_std}")
        self.target = target.detach()
        self.data_std = float(data_std)
        self.background = torch.tensor(background, dtype=torch.float32)
        self.schedule = VPCosine() if schedule is None else schedule

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B 3 H W"]:
        return images.permute(0, 3, 1, 2) * 2 - 1

    def decode(self, x: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B H W 3"]:
        return ((x + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

    @torch.no_grad()
    def means(self, views: SampledViews) -> Float[Tensor, "B 3 H W"]:
        """``mu_c``: the target rendered from each camera, in model space."""
        out = rasterize(self.target, views.cameras, background=self.background)
        return self.encode(out.rgb.clamp(0, 1))

    def model(self, prompts: Sequence[str], views: SampledViews) -> ModelFn:
        """The exact posterior mean ``E[x0 | x_t]`` (an ``x0`` prediction) for these cameras."""
        mu = self.means(views)
        s2 = self.data_std**2

        def posterior_mean(x: Tensor, t: Tensor) -> Tensor:
            a, s = self.schedule.alpha(t), self.schedule.sigma(t)
            gain = per_sample(a * s2 / (a**2 * s2 + s**2), x)
            m = mu.to(x.dtype)
            return m + gain * (x - per_sample(a, x) * m)

        return posterior_mean
