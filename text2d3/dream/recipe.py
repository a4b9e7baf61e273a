"""Text to 3D end to end: check the inputs, load the priors, distil, write the run folder.

:func:`dream` is the public entry point (the ``splat3d dream`` command calls it). The run folder
holds:

* ``point_cloud.ply`` -- the Gaussians (standard 3DGS PLY, :func:`splat3d.io.save_ply`);
* ``turntable.png`` / ``.gif`` (/ ``.mp4`` when an encoder is installed) -- orbit renders
  (:mod:`splat3d.turntable`);
* ``mesh.glb`` -- density-grid marching-cubes mesh with vertex colours (:mod:`splat3d.mesh`);
  skipped, with the reason in ``metrics.json``, when the Gaussians have no surface;
* ``config.json`` -- the resolved :class:`~text2d3.dream.config.DreamConfig` and the prompt;
* ``metrics.json`` -- steps, wall time, final losses per stage, the loss history and, when the
  prompt is in the embedded vocabulary, the embedded classifier's prompt accuracy over the
  turntable views (:func:`text2d3.priors.classifier.prompt_accuracy`).

Everything is built in a hidden temporary folder beside the target and renamed into place at
the end, so a failed or interrupted run leaves nothing behind; bad input (empty prompt, prompt
outside the embedded vocabulary, missing model folders, zero steps) is rejected before any
work with a one-line ``ValueError`` / ``OSError``.

Example:
    >>> from configs.dream import DREAM_PRESETS
    >>> result = dream(DREAM_PRESETS["fast"][1], "a red cube", Path("outputs/red_cube"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.fileio import write_json
from splat3d.gaussians import Gaussians
from splat3d.io import save_ply
from splat3d.mesh import export_mesh
from splat3d.strategy import DefaultStrategy
from splat3d.train.config import config_to_dict
from splat3d.train.trainer import TrainingMonitor, torch_threads
from splat3d.turntable import render_turntable, save_turntable
from text2d3.dream.config import DreamConfig
from text2d3.dream.guidance import PriorGuide
from text2d3.dream.loop import DistillResult, distill
from text2d3.priors.base import DiffusionPrior
from text2d3.procedural import parse_prompt

EMBEDDED_SPECS = ("embedded", "embedded-latent")
"""Prior specs of the shipped priors, whose vocabulary is that of :mod:`text2d3.procedural`."""


@dataclass
class DreamResult:
    """What :func:`dream` produced."""

    gaussians: Gaussians
    """The distilled Gaussians."""
    metrics: dict[str, Any]
    """The content of ``metrics.json``."""
    turntable: Float[Tensor, "V H W 3"]
    """The turntable renders (also used for the prompt accuracy)."""
    run_dir: Path | None
    """The written run folder (None when no output folder was asked for)."""


def with_priors(config: DreamConfig, image_prior: str | None = None,
                latent_prior: str | None = None) -> DreamConfig:
    """``config`` with the prior of every ``image`` stage replaced by ``image_prior`` and of
    every ``latent`` stage by ``latent_prior`` (None: keep). For a latent stage ``embedded``
    means the embedded latent prior."""
    def spec(role: str, current: str) -> str:
        new = image_prior if role == "image" else latent_prior
        if new is None:
            return current
        return "embedded-latent" if role == "latent" and new == "embedded" else new

    return replace(config, stages=tuple(replace(s, prior=spec(s.role, s.prior))
                                        for s in config.stages))


def with_steps(config: DreamConfig, steps: int) -> DreamConfig:
    """``config`` with ``steps`` steps in all, shared between the stages in the preset's
    proportions (each stage keeps at least one step). Annealing is relative to each stage's
    length already; the densification strategy's step thresholds are scaled by the same factor
    as their stage."""
    if steps < 1:
        raise ValueError(f"dream: steps must be a positive number, got {steps}")
    if steps < len(config.stages):
        raise ValueError(f"dream: --steps must be at least the number of stages "
                         f"({len(config.stages)}), got {steps}")
    total = config.total_steps
    counts = [max(1, round(s.steps * steps / total)) for s in config.stages]
    counts[-1] = max(1, steps - sum(counts[:-1]))
    return replace(config, stages=tuple(
        replace(s, steps=n, strategy=_scaled_strategy(s.strategy, n / s.steps))
        for s, n in zip(config.stages, counts, strict=True)))


def _scaled_strategy(strategy: DefaultStrategy | None, factor: float) -> DefaultStrategy | None:
    if strategy is None:
        return None

    def scaled(v: int) -> int:
        return max(1, round(v * factor))

    return replace(strategy, refine_start_iter=scaled(strategy.refine_start_iter),
                   refine_stop_iter=scaled(strategy.refine_stop_iter),
                   refine_every=scaled(strategy.refine_every),
                   reset_every=scaled(strategy.reset_every),
                   refine_scale2d_stop_iter=round(strategy.refine_scale2d_stop_iter * factor),
                   pause_refine_after_reset=round(strategy.pause_refine_after_reset * factor))


def check_prompt(prompt: str, config: DreamConfig) -> None:
    """Raise ``ValueError`` for an empty prompt, or for one the embedded priors cannot read
    when a stage uses them (the message lists the vocabulary)."""
    if not prompt.strip():
        raise ValueError("dream: the prompt is empty")
    if any(s.prior in EMBEDDED_SPECS for s in config.stages):
        parse_prompt(prompt)


def load_priors(config: DreamConfig, skip: set[str] | None = None) -> dict[str, DiffusionPrior]:
    """Each distinct prior spec of the stages not in ``skip``, loaded once (OSError for a
    missing folder)."""
    from text2d3.priors.load import load_prior

    dtype = torch.float16 if config.device.startswith("cuda") else torch.float32
    priors: dict[str, DiffusionPrior] = {}
    for stage in config.stages:
        if stage.prior not in priors and stage.prior not in (skip or set()):
            priors[stage.prior] = load_prior(stage.prior, device=config.device, dtype=dtype)
    return priors


def initial_gaussians(
    config: DreamConfig, seed_points: Float[Tensor, "N 3"] | None = None,
    seed_colours: Float[Tensor, "N 3"] | None = None,
) -> Gaussians:
    """Gaussians uniform in a ball of ``init_radius`` (colour ``init_colour`` or random), or on
    seed points."""
    if seed_points is not None:
        if seed_points.ndim != 2 or seed_points.shape[-1] != 3 or len(seed_points) == 0:
            raise ValueError(f"dream: seed points must be a non-empty [N, 3] tensor, got "
                             f"{tuple(seed_points.shape)}")
        g = Gaussians.from_points(seed_points, seed_colours, config.sh_degree,
                                  config.init_opacity, config.init_scale_factor)
    else:
        gen = torch.Generator().manual_seed(config.seed)
        n = config.num_gaussians
        direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
        radius = config.init_radius * torch.rand(n, 1, generator=gen) ** (1.0 / 3.0)
        colours = torch.rand(n, 3, generator=gen) if config.init_colour is None else \
            torch.tensor(config.init_colour).expand(n, 3)
        g = Gaussians.from_points(direction * radius, colours, config.sh_degree,
                                  config.init_opacity, config.init_scale_factor)
    return g.to(config.device)


def dream(
    config: DreamConfig,
    prompt: str,
    output_dir: Path | None = None,
    *,
    priors: Mapping[str, DiffusionPrior] | None = None,
    seed_points: Float[Tensor, "N 3"] | None = None,
    seed_colours: Float[Tensor, "N 3"] | None = None,
    monitor: TrainingMonitor | None = None,
    overwrite: bool = False,
) -> DreamResult:
    """Distil 3D Gaussians for ``prompt`` with the stages of ``config``.

    Args:
        config: stages and run settings (see ``configs/dream.py`` for presets).
        prompt: the text, e.g. ``"a red cube"``.
        output_dir: run folder to write (None: nothing is written).
        priors: already-loaded priors by spec (e.g. to share them across many prompts in a
            benchmark); specs not given are loaded with :func:`text2d3.priors.load.load_prior`.
        seed_points: initialise Gaussians on these points instead of in a ball.
        seed_colours: colours in ``[0, 1]`` of the seed points (default grey).
        monitor: e.g. the live viewer (:class:`splat3d.train.trainer.TrainingMonitor`).
        overwrite: replace an existing non-empty ``output_dir``.

    Raises:
        ValueError: empty prompt, prompt outside the embedded vocabulary, bad config.
        OSError: missing or malformed model folders; ``output_dir`` exists, is non-empty and
            ``overwrite`` is off.
    """
    check_prompt(prompt, config)
    if output_dir is not None:
        _check_output(Path(output_dir), overwrite)
    loaded = {**load_priors(config, skip=set(priors or {})), **(priors or {})}
    with torch_threads(config.threads):
        torch.manual_seed(config.seed)  # densification splits draw from the global generator
        init = initial_gaussians(config, seed_points, seed_colours)
        stages = [(s, PriorGuide(loaded[s.prior], s.guidance, s.negative_prompt))
                  for s in config.stages]
        result = distill(init, stages, prompt, seed=config.seed, backend=config.backend,
                         log_every=config.log_every, progress=config.progress, monitor=monitor)
        turntable = render_turntable(result.gaussians, config.turntable,
                                     backend=config.backend).clamp(0, 1)
        metrics = _metrics(config, prompt, result, turntable)
        run_dir = None
        if output_dir is not None:
            run_dir = _write_run(Path(output_dir), config, prompt, result, turntable, metrics,
                                 overwrite)
    return DreamResult(result.gaussians, metrics, turntable, run_dir)


def _metrics(config: DreamConfig, prompt: str, result: DistillResult,
             turntable: Tensor) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "prompt": prompt, "steps": config.total_steps, "seconds": result.seconds,
        "num_gaussians": len(result.gaussians), "stages": result.stages,
        "history": result.history, "prompt_accuracy": None}
    try:
        parse_prompt(prompt)
    except ValueError:
        return metrics  # outside the classifier's vocabulary: no accuracy to report
    from text2d3.priors.classifier import load_classifier, prompt_accuracy

    acc = prompt_accuracy(load_classifier(), turntable, [prompt] * len(turntable))
    metrics["prompt_accuracy"] = {"colour": acc.colour, "shape": acc.shape, "both": acc.both,
                                  "views": acc.count}
    return metrics


def _check_output(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"dream: output {output_dir} exists and is not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"dream: output folder {output_dir} is not empty; choose another "
                              "or pass overwrite")


def _write_run(output_dir: Path, config: DreamConfig, prompt: str, result: DistillResult,
               turntable: Tensor, metrics: dict[str, Any], overwrite: bool) -> Path:
    """Build the folder under a temporary name beside ``output_dir``, then rename it."""
    output_dir = output_dir.absolute()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".tmp",
                                dir=output_dir.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; give the folder the usual permissions
    try:
        save_ply(tmp / "point_cloud.ply", result.gaussians.detach().to("cpu"))
        files = save_turntable(turntable, tmp, config.turntable)
        metrics["turntable"] = {"grid": files.grid.name, "gif": files.gif.name,
                                "mp4": None if files.mp4 is None else files.mp4.name,
                                "mp4_skipped": files.mp4_skipped}
        try:
            export_mesh(result.gaussians.detach().to("cpu"), tmp / "mesh.glb", config.mesh)
            metrics["mesh"] = {"file": "mesh.glb", "skipped": None}
        except (ValueError, ImportError) as err:
            metrics["mesh"] = {"file": None, "skipped": str(err)}
        write_json(tmp / "config.json", {"prompt": prompt, "config": config_to_dict(config)})
        write_json(tmp / "metrics.json", metrics)
        _replace_folder(tmp, output_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output_dir


def _replace_folder(tmp: Path, output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists():
        _check_output(output_dir, overwrite)
        old = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".old",
                                    dir=output_dir.parent))
        os.replace(output_dir, old / "run")
        os.replace(tmp, output_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output_dir)
