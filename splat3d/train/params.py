"""Trainable parameters and their optimiser: Gaussians <-> ``nn.ParameterDict``, Adam setup
with per-parameter learning rates and the exponential decay of the means rate (3DGS)."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.gaussians import Gaussians
from splat3d.train.config import InitConfig, LearningRates

PARAM_NAMES = ("means", "quats", "log_scales", "opacity_logits", "sh0", "shN")
"""Parameter-dict keys; the SH DC and rest are separate so they get their own rates."""


def params_from_gaussians(gaussians: Gaussians) -> torch.nn.ParameterDict:
    """Trainable copies of ``gaussians``' raw tensors, SH split into ``sh0`` [N,1,3] and
    ``shN`` [N,K-1,3]."""
    g = gaussians.detach()
    tensors = {"means": g.means, "quats": g.quats, "log_scales": g.log_scales,
               "opacity_logits": g.opacity_logits, "sh0": g.sh[:, :1], "shN": g.sh[:, 1:]}
    return torch.nn.ParameterDict({k: torch.nn.Parameter(v.clone().contiguous())
                                   for k, v in tensors.items()})


def gaussians_from_params(params: torch.nn.ParameterDict | dict[str, Tensor]) -> Gaussians:
    """A :class:`Gaussians` view of the parameters (shares storage, keeps the graph)."""
    return Gaussians(params["means"], params["quats"], params["log_scales"],
                     params["opacity_logits"], torch.cat([params["sh0"], params["shN"]], 1))


def make_optimizer(params: torch.nn.ParameterDict, lr: LearningRates,
                   scene_scale: float) -> torch.optim.Adam:
    """One Adam with a named param group per tensor (so densification and schedules can find
    them); ``eps=1e-15`` as in the reference implementation."""
    rates = {"means": lr.means * scene_scale, "quats": lr.quats, "log_scales": lr.log_scales,
             "opacity_logits": lr.opacity_logits, "sh0": lr.sh0, "shN": lr.shN}
    groups = [{"params": [params[k]], "lr": rates[k], "name": k} for k in PARAM_NAMES]
    return torch.optim.Adam(groups, eps=1e-15)


def means_lr(step: int, max_steps: int, lr: LearningRates, scene_scale: float) -> float:
    """Exponentially decayed means rate: ``lr0 * f^(step / max_steps)``, ``f`` the final
    factor (3DGS decays 1.6e-4 -> 1.6e-6 times the scene scale over training)."""
    t = min(max(step / max(max_steps, 1), 0.0), 1.0)
    return lr.means * scene_scale * lr.means_final_factor**t


def set_means_lr(optimizer: torch.optim.Optimizer, value: float) -> None:
    """Write the current means rate into its param group."""
    for group in optimizer.param_groups:
        if group.get("name") == "means":
            group["lr"] = value


def random_init_gaussians(
    center: Float[Tensor, " 3"], scene_scale: float, init: InitConfig, sh_degree: int,
    generator: torch.Generator,
) -> Gaussians:
    """``init.num_random`` Gaussians uniform in the cube ``center ± random_extent·scale``
    with random colours (3DGS's initialisation for scenes without SfM points)."""
    half = init.random_extent * scene_scale
    pts = (torch.rand(init.num_random, 3, generator=generator) * 2 - 1) * half + center
    rgb = torch.rand(init.num_random, 3, generator=generator)
    return Gaussians.from_points(pts, rgb, sh_degree, init.opacity, init.scale_factor)


def points_init_gaussians(
    xyz: Float[Tensor, "N 3"], rgb: Float[Tensor, "N 3"] | None, init: InitConfig,
    sh_degree: int,
) -> Gaussians:
    """Gaussians on seed points (kNN scales, point colours)."""
    if xyz.shape[0] == 0:
        raise ValueError("points initialisation: the dataset's seed point cloud is empty")
    return Gaussians.from_points(xyz.float(), None if rgb is None else rgb.float(), sh_degree,
                                 init.opacity, init.scale_factor)


