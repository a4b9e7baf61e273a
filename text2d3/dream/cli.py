"""The ``splat3d dream`` command: a prompt and a preset in, a run folder out.

Wired into ``splat3d/cli.py`` by a thin wrapper; kept here so the CLI owns no distillation code.

Example:
    >>> dream_command("a red cube", preset="fast", output=Path("outputs/red_cube"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from text2d3.dream.recipe import dream, with_priors, with_steps


def dream_command(
    prompt: str,
    *,
    preset: str = "stabledreamer",
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
    """Run a preset from ``configs/dream.py`` on ``prompt`` and write the run folder.

    Args:
        prompt: the text (the embedded priors read "a <colour> <shape>").
        preset: a key of ``DREAM_PRESETS``.
        image_prior: replaces the prior of the image-space stages (``embedded``, ``if:PATH``).
        latent_prior: replaces the prior of the latent-space stages (``embedded`` /
            ``embedded-latent``, ``sd:PATH``).
        steps: total steps, shared between the stages in the preset's proportions.
        resolution: render side in pixels for every stage (default the preset's 32, the
            embedded priors'; e.g. 64 for IF, 256-512 for Stable Diffusion on a GPU).
        seed: random seed.
        output: run folder (default ``outputs/dream/<prompt with underscores>``).
        overwrite: replace a non-empty run folder.
        viewer: watch the Gaussians live in the web viewer (pause from the GUI).
        viewer_port: port of the live viewer on 127.0.0.1.
        device: torch device.

    Returns:
        The run folder.
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
    config = replace(config, seed=seed, device=device)
    if output is None:
        slug = "_".join(prompt.lower().split()) or "empty"
        output = Path("outputs/dream") / "".join(c for c in slug if c.isalnum() or c == "_")
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
