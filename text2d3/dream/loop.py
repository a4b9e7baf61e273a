"""The distillation loop: optimise Gaussians so that their renders satisfy a 2D prior.

Each step of a stage (:class:`~text2d3.dream.config.StageConfig`):

1. draw ``views_per_step`` cameras (:class:`~text2d3.dream.cameras.CameraSampler`) and
   background colours, render the Gaussians;
2. encode the renders to the prior's model space ``x`` (differentiably), draw ``t`` from the
   stage's annealing schedule and ``eps``, form ``x_t = alpha x + sigma eps``;
3. ask the :class:`~text2d3.dream.guidance.Guide` for the guided denoised target (``x0_hat``, or
   ``x_t`` denoised by ``k`` solver steps) without gradients;
4. minimise the SDS L2 loss (:func:`~text2d3.dream.sds.sds_l2_loss`) plus the regularisers,
   clip the gradient norm, take the Adam step;
5. drive the densification strategy exactly as :mod:`splat3d.train.trainer` does:
   ``step_pre_backward`` after rendering, ``step_post_backward`` after the optimiser step.

Stages run in order on the same Gaussians, each with its own optimiser, strategy state and
guide. Nothing is written to disk here; :func:`text2d3.dream.recipe.dream` writes run folders.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from splat3d.gaussians import Gaussians
from splat3d.rasterize import Backend, rasterize
from splat3d.train.params import (
    gaussians_from_params,
    make_optimizer,
    means_lr,
    params_from_gaussians,
    set_means_lr,
)
from splat3d.train.trainer import TrainingMonitor
from text2d3.dream.background import Background
from text2d3.dream.cameras import CameraSampler
from text2d3.dream.config import StageConfig
from text2d3.dream.guidance import Guide
from text2d3.dream.progress import DreamProgress
from text2d3.dream.sds import k_step_target, sds_l2_loss
from text2d3.solvers.model import per_sample, to_denoised


@dataclass
class DistillResult:
    """What a distillation produced."""

    gaussians: Gaussians
    """The final Gaussians (detached)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every ``log_every`` steps: stage, global step, SDS and regulariser losses averaged over
    the window, the time range, #Gaussians, elapsed seconds."""
    stages: list[dict[str, Any]] = field(default_factory=list)
    """Per stage: name, prior role, steps, seconds, final SDS and regulariser losses (averaged
    over the stage's last logging window)."""
    seconds: float = 0.0
    """Wall time of all stages."""


def distill(
    gaussians: Gaussians,
    stages: Sequence[tuple[StageConfig, Guide]],
    prompt: str,
    *,
    seed: int = 0,
    backend: Backend = "auto",
    log_every: int = 10,
    progress: bool = False,
    monitor: TrainingMonitor | None = None,
) -> DistillResult:
    """Run the stages in order on (a trainable copy of) ``gaussians``.

    Args:
        gaussians: the starting Gaussians.
        stages: each stage's configuration and the guide it distils from.
        prompt: the text prompt (view suffixes are appended per camera when enabled).
        seed: seeds cameras, times, noise and backgrounds (stage ``i`` uses ``seed``, ``i``).
        backend: rasterizer backend.
        log_every: steps between history entries, progress refreshes and monitor updates.
        progress: show a rich progress bar.
        monitor: e.g. the viewer; receives the Gaussians every ``log_every`` steps and may pause.
    """
    result = DistillResult(gaussians.detach())
    total = sum(cfg.steps for cfg, _ in stages)
    done = 0
    start = time.perf_counter()
    with DreamProgress(total, enabled=progress) as bar:
        for index, (cfg, guide) in enumerate(stages):
            gen = torch.Generator().manual_seed(seed * 7919 + index)
            t0 = time.perf_counter()
            params, final = _run_stage(result, cfg, guide, prompt, gen, backend, log_every, bar,
                                       monitor, done, total, start)
            result.gaussians = gaussians_from_params(params).detach()
            result.stages.append({"name": cfg.name, "role": cfg.role, "prior": cfg.prior,
                                  "steps": cfg.steps, "seconds": time.perf_counter() - t0,
                                  **final})
            done += cfg.steps
    result.seconds = time.perf_counter() - start
    return result


def _run_stage(result: DistillResult, cfg: StageConfig, guide: Guide, prompt: str,
               gen: torch.Generator, backend: Backend, log_every: int, bar: DreamProgress,
               monitor: TrainingMonitor | None, done: int, total: int,
               start: float) -> tuple[torch.nn.ParameterDict, dict[str, float]]:
    params = params_from_gaussians(result.gaussians)
    optimizer = make_optimizer(params, cfg.lr, scene_scale=1.0)
    background = Background(cfg.background)
    bg_optimizer = torch.optim.Adam(background.parameters(), lr=cfg.background.lr) \
        if background.parameters() else None
    strategy, state = cfg.strategy, None
    if strategy is not None:
        strategy.check_sanity(params, optimizer)
        state = strategy.initialize_state(scene_scale=1.0)
    sampler = CameraSampler(cfg.cameras)
    window = {"sds": 0.0, "reg": 0.0, "n": 0}
    final = {"sds": float("nan"), "reg": float("nan")}
    for step in range(cfg.steps):
        if monitor is not None:
            monitor.wait_while_paused()
        progress = step / max(cfg.steps - 1, 1)
        set_means_lr(optimizer, means_lr(step, cfg.steps, cfg.lr, 1.0))
        sds, reg, info = _step(cfg, guide, prompt, params, background, sampler, gen, backend,
                               progress)
        if strategy is not None:
            strategy.step_pre_backward(params, optimizer, state, step, info)
        (sds + reg).backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if bg_optimizer is not None:
            bg_optimizer.step()
            bg_optimizer.zero_grad(set_to_none=True)
        if strategy is not None:
            strategy.step_post_backward(params, optimizer, state, step, info)
        window["sds"] += float(sds.detach())
        window["reg"] += float(reg.detach())
        window["n"] += 1
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            final = {"sds": window["sds"] / window["n"], "reg": window["reg"] / window["n"]}
            window = {"sds": 0.0, "reg": 0.0, "n": 0}
            t_range = cfg.annealing.bounds(progress)
            n = params["means"].shape[0]
            result.history.append({"stage": cfg.name, "step": done + step + 1,
                                   "sds": final["sds"], "reg": final["reg"],
                                   "t_lo": t_range[0], "t_hi": t_range[1], "num_gaussians": n,
                                   "elapsed": time.perf_counter() - start})
            bar.update(done + step + 1, stage=cfg.name, t_range=t_range,
                       loss=final["sds"] + final["reg"], num_gaussians=n)
            if monitor is not None:
                monitor.update(gaussians_from_params(params).detach(), step=done + step + 1,
                               metrics={"loss": final["sds"] + final["reg"], "t_hi": t_range[1]})
    return params, final


def _step(cfg: StageConfig, guide: Guide, prompt: str, params: torch.nn.ParameterDict,
          background: Background, sampler: CameraSampler, gen: torch.Generator,
          backend: Backend, progress: float) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Render, noise, denoise and score one batch of views; returns (SDS loss, regulariser
    loss, the render info the strategy needs)."""
    n_views = cfg.views_per_step
    device = params["means"].device
    views = sampler.sample(n_views, gen)
    prompts = views.prompts(prompt, open_vocabulary=guide.open_vocabulary)
    colours = background.colours(n_views, gen).to(device)
    out = rasterize(gaussians_from_params(params), views.cameras.to(device),
                    background=colours, backend=backend)
    x = guide.encode(out.rgb)  # [V, C, h, w]
    one_t = cfg.target_steps > 1
    t = cfg.annealing.sample(progress, 1 if one_t else n_views, gen).expand(n_views)
    with torch.no_grad():
        eps = torch.randn(x.shape, generator=gen).to(x)
        schedule = guide.schedule
        x_t = per_sample(schedule.alpha(t), x) * x.detach() + per_sample(schedule.sigma(t), x) * eps
        model = guide.model(prompts, views)
        if one_t:
            target = k_step_target(model, x_t, float(t[0]), schedule, guide.prediction,
                                   cfg.target_steps, cfg.target_method)
        else:
            target = to_denoised(model(x_t, t), x_t, t, schedule, guide.prediction).x0
    sds = sds_l2_loss(x, target.to(x.dtype), t, schedule, cfg.weighting)
    reg = cfg.regularizers.loss(params["opacity_logits"], params["log_scales"])
    return sds.float(), reg, out.info
