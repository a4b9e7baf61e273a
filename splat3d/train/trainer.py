"""Per-scene 3DGS optimisation (Kerbl et al., SIGGRAPH 2023): the training loop.

One image per step: render with the active SH degree, loss ``(1-λ)L1 + λ(1-SSIM)`` (plus
optional alpha supervision), Adam step, then the densification strategy's hook. Held-out
views are scored at ``eval_steps``; checkpoints are written every ``checkpoint_every`` steps,
at the end, and on SIGINT (Ctrl-C), SIGTERM or SIGHUP (the current step finishes first), and
``resume=True`` continues bit-for-bit on CPU. The loss is checked for NaN and infinity every
step and the parameters before anything is logged, evaluated or saved (at least every
``LOG_EVERY`` steps): a run stops with :class:`~splat3d.train.faults.NonFiniteError` rather
than write a non-finite model. Outputs: see :func:`train`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from splat3d.gaussians import Gaussians
from splat3d.metrics import SSIM_WINDOW
from splat3d.rasterize import rasterize
from splat3d.train import checkpoint as ckpt
from splat3d.train import run_dir as rd
from splat3d.train.config import TrainConfig
from splat3d.train.evaluate import evaluate_views
from splat3d.train.faults import (
    NonFiniteError,
    TrainingInterrupted,
    deferred_stop_signals,
    non_finite_params,
)
from splat3d.train.loss import reconstruction_loss
from splat3d.train.params import (
    gaussians_from_params,
    make_optimizer,
    means_lr,
    params_from_gaussians,
    points_init_gaussians,
    random_init_gaussians,
    set_means_lr,
)
from splat3d.train.progress import TrainProgress
from splat3d.train.scene import (
    SceneData,
    background_color,
    frame_name,
    scene_center,
    split_indices,
    target_view,
)

LOG_EVERY = 10
"""Steps between entries of the training curve (and progress-bar refreshes)."""


@dataclass
class TrainState:
    """Everything that changes during training (and goes into checkpoints)."""

    step: int
    """Completed steps."""
    params: torch.nn.ParameterDict
    optimizer: torch.optim.Adam
    strategy_state: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    """Training curve: step, loss, PSNR of the training view, #Gaussians, elapsed seconds."""
    evals: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Held-out metrics by step."""
    elapsed: float = 0.0
    """Training seconds so far (summed over resumed sessions)."""


class TrainingMonitor(Protocol):
    """Something watching a run, such as the web viewer: told the current Gaussians and
    metrics every few steps, and able to hold training while the user has paused it."""

    def update(self, gaussians: Gaussians, *, step: int, metrics: dict[str, float]) -> None: ...

    def wait_while_paused(self, stop: Callable[[], bool] | None = None) -> None:
        """Block while the user has paused training; return early once ``stop()`` is true
        (a stop signal arrived while paused)."""


def train(config: TrainConfig, dataset: SceneData | None = None,
          monitor: TrainingMonitor | None = None) -> Path:
    """Train a 3DGS model and write the run folder; returns its path.

    The folder holds ``config.json``, ``checkpoints/``, ``point_cloud.ply`` (standard 3DGS
    PLY), ``metrics.json`` (held-out PSNR/SSIM per view and mean at each evaluation step, the
    training curve, timing), ``test/renders`` and ``test/comparisons`` (ground truth | render
    | error), and ``training_curves.png``.

    Args:
        config: the run configuration (``config.data`` is read with ``splat3d.data`` unless
            ``dataset`` is given).
        dataset: an in-memory dataset to use instead of ``config.data``.
        monitor: receives the Gaussians and metrics every ``LOG_EVERY`` steps and may pause
            training (see :class:`TrainingMonitor`).

    Raises:
        FileExistsError: fresh run in a non-empty folder without ``overwrite``.
        FileNotFoundError: ``resume`` without a checkpoint.
        TrainingInterrupted: (a ``KeyboardInterrupt``) after SIGINT, SIGTERM or SIGHUP, once
            the checkpoint is written.
        NonFiniteError: (a ``ValueError``) when the loss or a parameter is NaN or infinite;
            the newest checkpoint is the last good state and no final outputs are written.
    """
    config = rd.prepare(config)
    data = dataset if dataset is not None else rd.load_data(config)
    train_ids = split_indices(data, "train")
    if not train_ids:
        raise ValueError("the dataset's 'train' split has no views")
    split_indices(data, config.eval_split)
    _check_image_size(config, data)
    with torch_threads(config.threads):
        state = _restore(config, data) if config.resume else _initial_state(config, data)
        _loop(config, data, train_ids, state, monitor)
        rd.finish(config, state.params, state.history, state.evals, state.elapsed)
    return config.output_dir


def _check_image_size(config: TrainConfig, data: SceneData) -> None:
    """The D-SSIM term needs images at least as large as its window."""
    height, width = data.images.shape[1:3]
    if config.ssim_lambda > 0 and min(height, width) < SSIM_WINDOW:
        raise ValueError(f"the training images are {width}x{height} px (--downscale "
                         f"{config.downscale}); the SSIM loss needs at least {SSIM_WINDOW} px "
                         f"per side: use a smaller --downscale")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _initial_state(config: TrainConfig, data: SceneData) -> TrainState:
    torch.manual_seed(config.seed)
    init = config.init
    kind = init.kind
    if kind == "auto":
        kind = "points" if data.points is not None and len(data.points) else "random"
    if kind == "points":
        if data.points is None:
            raise ValueError("init.kind='points' but the dataset has no seed points")
        gaussians = points_init_gaussians(data.points, data.point_colors, init, config.sh_degree)
    else:
        gen = torch.Generator().manual_seed(config.seed)
        gaussians = random_init_gaussians(scene_center(data), data.scene_scale, init,
                                          config.sh_degree, gen)
    params = params_from_gaussians(gaussians.to(config.device))
    optimizer = make_optimizer(params, config.lr, data.scene_scale)
    config.strategy.check_sanity(params, optimizer)
    return TrainState(0, params, optimizer,
                      config.strategy.initialize_state(scene_scale=data.scene_scale))


def _restore(config: TrainConfig, data: SceneData) -> TrainState:
    path, payload = ckpt.load_latest(config.output_dir, config.device)
    params = torch.nn.ParameterDict({k: torch.nn.Parameter(v.to(config.device))
                                     for k, v in payload["params"].items()})
    optimizer = make_optimizer(params, config.lr, data.scene_scale)
    try:
        optimizer.load_state_dict(payload["optimizer"])
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ckpt.CheckpointError(f"{path}: the optimizer state does not fit its parameters "
                                   f"({type(err).__name__}: {err})") from None
    torch.set_rng_state(payload["torch_rng"].cpu())
    log = payload.get("log", {})
    return TrainState(payload["step"], params, optimizer, payload["strategy_state"],
                      log.get("history", []), log.get("evals", {}), log.get("elapsed", 0.0))


def _loop(config: TrainConfig, data: SceneData, train_ids: list[int], st: TrainState,
          monitor: TrainingMonitor | None) -> None:
    fixed_bg = background_color(data).to(config.device)
    eval_at = set(config.eval_steps) | {config.max_steps}
    resume_hint = f"the newest checkpoint is in {ckpt.checkpoint_dir(config.output_dir)}"
    with deferred_stop_signals(resume_hint) as stop, \
            TrainProgress(config.max_steps, st.step, enabled=config.progress) as bar:
        while st.step < config.max_steps:
            if monitor is not None:
                monitor.wait_while_paused(stop.is_set)
            t0 = time.perf_counter()
            try:
                loss, train_psnr = _train_step(config, data, train_ids, st, fixed_bg)
            except NonFiniteError as err:
                raise NonFiniteError(f"{err}; {_stopped(config)}") from None
            st.step += 1
            st.elapsed += time.perf_counter() - t0
            stopping = stop.is_set()  # read once: a signal arriving later waits for next step
            log_now = st.step % LOG_EVERY == 0 or st.step == config.max_steps
            save_now = st.step % config.checkpoint_every == 0 or st.step == config.max_steps \
                or stopping
            if log_now or save_now or st.step in eval_at:
                bad = non_finite_params(st.params)
                if bad is not None:
                    raise NonFiniteError(f"step {st.step}: {bad}; {_stopped(config)}")
            n = st.params["means"].shape[0]
            if log_now:
                st.history.append({"step": st.step, "loss": loss, "psnr": train_psnr,
                                   "num_gaussians": n, "elapsed": st.elapsed})
                bar.update(st.step, loss=loss, psnr=train_psnr, num_gaussians=n)
                if monitor is not None:
                    monitor.update(gaussians_from_params(st.params).detach(), step=st.step,
                                   metrics={"loss": loss, "psnr": train_psnr})
            if st.step in eval_at:
                degree = _active_degree(config, st.step - 1)
                images = rd.test_dir(config) if st.step == config.max_steps else None
                st.evals[st.step] = evaluate_views(gaussians_from_params(st.params), data,
                                                   config, degree, images)
                bar.note(f"step {st.step}: test PSNR {st.evals[st.step]['psnr']:.2f} dB, "
                         f"SSIM {st.evals[st.step]['ssim']:.4f}, {n} Gaussians, {st.elapsed:.0f} s")
            if save_now:
                path = _save(config, st)
            if stopping:
                raise TrainingInterrupted(f"{stop.signal_name}: training stopped after step "
                                          f"{st.step} of {config.max_steps}; checkpoint "
                                          f"written to {path}; resume=True (--resume) "
                                          f"continues the run")


def _stopped(config: TrainConfig) -> str:
    """The end of a :class:`NonFiniteError` message: what was kept."""
    found = ckpt.list_checkpoints(config.output_dir)
    kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint was written"
    return f"training stopped without writing the model ({kept})"


def _train_step(config: TrainConfig, data: SceneData, train_ids: list[int], st: TrainState,
                fixed_bg: torch.Tensor) -> tuple[float, float]:
    """One optimisation step (0-based step index ``st.step``)."""
    step = st.step
    index = train_ids[_view_order(config.seed, step // len(train_ids), len(train_ids))
                      [step % len(train_ids)]]
    bg = _random_background(config.seed, step).to(config.device) if config.random_background \
        else fixed_bg
    gt, gt_alpha = target_view(data, index, bg, config.device)
    set_means_lr(st.optimizer, means_lr(step, config.max_steps, config.lr, data.scene_scale))
    out = rasterize(gaussians_from_params(st.params), data.cameras[index].to(config.device),
                    sh_degree=_active_degree(config, step), background=bg, mode=config.mode,
                    backend=config.backend)
    info = out.info
    config.strategy.step_pre_backward(st.params, st.optimizer, st.strategy_state, step, info)
    terms = reconstruction_loss(out.rgb, gt, config.ssim_lambda, out.alpha, gt_alpha,
                                config.alpha_loss_weight)
    loss = float(terms.total.detach())
    if not math.isfinite(loss):  # checked before the update, so the parameters stay good
        raise NonFiniteError(f"step {step + 1}: the loss is {loss} on training view "
                             f"{frame_name(data, index)!r}")
    terms.total.backward()
    st.optimizer.step()
    st.optimizer.zero_grad(set_to_none=True)
    config.strategy.step_post_backward(st.params, st.optimizer, st.strategy_state, step, info)
    with torch.no_grad():
        mse = (out.rgb.detach().clamp(0, 1) - gt).square().mean().clamp_min(1e-20)
    return loss, float(-10.0 * torch.log10(mse))


def _active_degree(config: TrainConfig, step: int) -> int:
    return min(step // max(config.sh_degree_interval, 1), config.sh_degree)


def _view_order(seed: int, epoch: int, n: int) -> list[int]:
    """A fixed shuffle per (seed, epoch): no sampler state to checkpoint."""
    gen = torch.Generator().manual_seed((seed << 32) + epoch)
    return torch.randperm(n, generator=gen).tolist()


def _random_background(seed: int, step: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed((seed << 32) + (1 << 62) + step)
    return torch.rand(3, generator=gen)


def _save(config: TrainConfig, st: TrainState) -> Path:
    return ckpt.save_checkpoint(config.output_dir, st.step, st.params, st.optimizer,
                                st.strategy_state, log={"history": st.history, "evals": st.evals,
                                                        "elapsed": st.elapsed})
