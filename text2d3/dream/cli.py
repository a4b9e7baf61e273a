"""The ``splat3d dream`` command: a prompt and a preset in, a run folder out.

``splat3d/cli.py`` registers :func:`dream_command` itself as the ``dream`` subcommand (tyro
reads its signature and docstring), importing this module only when the command line is parsed.

Example:
    >>> dream_command("a red cube", preset="fast", output=Path("outputs/red_cube"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import tyro

from splat3d.device import resolve_device
from splat3d.safepath import child_path
from text2d3.dream.recipe import dream, with_priors, with_steps

DREAM_ROOT = Path("outputs/dream")
"""Where runs go without ``--output``, one folder per prompt."""


def default_output(prompt: str) -> Path:
    """``outputs/dream/<prompt>``: lower-case words joined by ``_``, letters, digits and ``_``
    only (``"a red cube"`` -> ``a_red_cube``), cut to a safe length.

    A prompt with none of those characters (``"!!!"``) gives ``outputs/dream/empty``, never
    ``outputs/dream`` itself, which ``--overwrite`` would replace with every run in it.
    """
    slug = "".join(c for c in "_".join(prompt.lower().split()) if c.isalnum() or c == "_")
    return child_path(DREAM_ROOT, slug or "empty")


def dream_command(
    prompt: Annotated[str, tyro.conf.Positional],
    preset: Literal["stabledreamer", "sds-baseline", "fast"] = "stabledreamer",
    image_prior: str | None = None,
    latent_prior: str | None = None,
    steps: int | None = None,
    resolution: int | None = None,
    seed: int = 0,
    output: Path | None = None,
    overwrite: bool = False,
    viewer: bool = False,
    viewer_port: int = 8080,
    device: str = "cpu",
) -> Path:
    """Text to 3D Gaussians by score distillation (StableDreamer) -> point_cloud.ply, turntable,
    mesh and metrics.json in a run folder.

    Args:
        prompt: the text, e.g. "a red cube" (the embedded priors list their vocabulary on error).
        preset: named recipe from ``configs/dream.py``.
        image_prior: prior of the image-space stages: ``embedded`` or ``if:PATH`` (DeepFloyd IF
            stage I folder); default the preset's.
        latent_prior: prior of the latent-space stages: ``embedded-latent`` or ``sd:PATH``
            (Stable Diffusion folder); default the preset's.
        steps: total steps (default the preset's), shared between the stages in the preset's
            proportions.
        resolution: render side in pixels for every stage (default the preset's 32, the
            embedded priors'; 64 suits IF, 256-512 Stable Diffusion on a GPU).
        seed: random seed.
        output: run folder (default ``outputs/dream/<prompt with underscores>``).
        overwrite: replace a non-empty run folder.
        viewer: watch the Gaussians live in the web viewer (pause from the GUI).
        viewer_port: port of the live viewer on 127.0.0.1.
        device: torch device.
    """
    from configs.dream import DREAM_PRESETS

    if preset not in DREAM_PRESETS:
        raise ValueError(f"dream: unknown preset {preset!r}; choose from {sorted(DREAM_PRESETS)}")
    config = with_priors(DREAM_PRESETS[preset][1], image_prior, latent_prior)
    if steps is not None:
        config = with_steps(config, steps)
    if resolution is not None:
        config = replace(config, stages=tuple(
            replace(s, cameras=replace(s.cameras, resolution=resolution)) for s in config.stages))
    config = replace(config, seed=seed, device=str(resolve_device(device)))
    if output is None:
        output = default_output(prompt)
    monitor = None
    if viewer:
        from splat3d.gaussians import Gaussians
        from viewer import Viewer, ViewerConfig

        monitor = Viewer(Gaussians.empty(config.sh_degree), ViewerConfig(port=viewer_port))
        print(f"live viewer at {monitor.url}")
    try:
        result = dream(config, prompt, output, monitor=monitor, overwrite=overwrite)
    finally:
        if monitor is not None:
            monitor.close()
    acc = result.metrics["prompt_accuracy"]
    summary = "" if acc is None else \
        f", prompt accuracy {acc['both']:.0%} over {acc['views']} views"
    print(f"dream: {result.metrics['steps']} steps in {result.metrics['seconds']:.0f} s, "
          f"{result.metrics['num_gaussians']} Gaussians{summary}; run written to {result.run_dir}")
    return Path(output)
