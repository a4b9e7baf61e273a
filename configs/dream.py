"""Named presets for ``splat3d dream``: one explicit table, name -> (description, config).

* ``stabledreamer`` -- StableDreamer's recipe (Guo et al. 2023): a geometry stage with the
  image-space prior and square-root time annealing while Gaussians are densified and pruned,
  then an appearance stage with the latent-space prior at low noise levels.
* ``sds-baseline`` -- DreamFusion-style SDS (Poole et al. 2022): one image-space stage,
  ``t ~ U[0.02, 0.98]`` throughout, same step count and densification.
* ``fast`` -- ``stabledreamer`` at half the steps, for smoke tests and quick looks.

The defaults are sized for the embedded 32 x 32 priors on one CPU thread (measured times are in
BENCHMARKS.md); with Stable Diffusion / IF pass ``--image-prior if:PATH --latent-prior sd:PATH``
and raise ``cameras.resolution`` to the prior's (64 for IF, 512 for SD) on a GPU.
"""

from __future__ import annotations

from dataclasses import replace

from splat3d.strategy import DefaultStrategy
from text2d3.dream import DreamConfig, LinearAnneal, SqrtAnneal, StageConfig, UniformTime
from text2d3.dream.regularizers import RegularizerConfig


def _densify(steps: int) -> DefaultStrategy:
    """Grow and prune every 50 steps from step 100 until three quarters of the stage; prune
    below opacity 0.02 (haze the prior barely sees); no opacity resets (too few steps)."""
    return DefaultStrategy(refine_start_iter=100, refine_stop_iter=int(0.75 * steps),
                           refine_every=50, reset_every=1_000_000, grow_grad2d=0.0002,
                           prune_opa=0.02)


_GREY = (0.5, 0.5, 0.5)
"""Initial colour: random colours leave speckles the noisy SDS signal never fully removes."""
_SOLID = RegularizerConfig(opacity_entropy=0.01, scale=1.0, max_scale=0.05)
"""Opacity entropy against semi-transparent haze; a scale penalty above 0.05 against the big
blurry Gaussians that otherwise survive (no opacity resets, so the strategy never prunes by
size). Weight 10 instead of 1 cost accuracy (blue cube 0.88 -> 0.38)."""


_GEOMETRY = StageConfig(
    name="geometry", role="image", prior="embedded", steps=600, guidance=10.0,
    weighting="sigma2", annealing=SqrtAnneal(start=(0.02, 0.98), end=(0.02, 0.4)),
    views_per_step=4, strategy=_densify(600), regularizers=_SOLID)
_APPEARANCE = StageConfig(
    name="appearance", role="latent", prior="embedded-latent", steps=300, guidance=10.0,
    weighting="sigma2", annealing=LinearAnneal(start=(0.02, 0.5), end=(0.02, 0.1)),
    views_per_step=4, regularizers=_SOLID)

DREAM_PRESETS: dict[str, tuple[str, DreamConfig]] = {
    "stabledreamer": (
        "two stages: 600 steps image prior (t annealed sqrt 0.98->0.4, densify) + 300 steps "
        "latent prior (t 0.5->0.1), 4 views/step, CFG 10, opacity entropy 0.01, scale penalty",
        DreamConfig(stages=(_GEOMETRY, _APPEARANCE), init_colour=_GREY),
    ),
    "sds-baseline": (
        "one stage: 900 steps image prior, uniform t in [0.02, 0.98], densify, 4 views/step, "
        "CFG 10",
        DreamConfig(stages=(replace(_GEOMETRY, name="sds", steps=900,
                                    annealing=UniformTime((0.02, 0.98)),
                                    strategy=_densify(900)),), init_colour=_GREY),
    ),
    "fast": (
        "stabledreamer at half the steps (300 + 150)",
        DreamConfig(stages=(replace(_GEOMETRY, steps=300, strategy=_densify(300)),
                            replace(_APPEARANCE, steps=150)), init_colour=_GREY),
    ),
}
"""Preset name -> (one-line description, config)."""
