"""Named presets for ``splat3d train``: one explicit table, name -> (description, config).

``default`` is the 3D Gaussian Splatting schedule (Kerbl et al., 2023; gsplat defaults);
``fast`` compresses it tenfold for CPU runs on small scenes (e.g. NeRF-synthetic at 200 px).
"""

from __future__ import annotations

from splat3d.strategy import DefaultStrategy
from splat3d.train import InitConfig, TrainConfig

TRAIN_PRESETS: dict[str, tuple[str, TrainConfig]] = {
    "default": (
        "3DGS paper schedule: 30k steps, densify 500-15k every 100, opacity reset every 3k, "
        "SH degree +1 every 1k.",
        TrainConfig(),
    ),
    "fast": (
        "CPU-sized: 3k steps, 20k random Gaussians, densify 250-2.5k every 100, opacity "
        "reset every 1k, SH degree +1 every 500, one torch thread.",
        TrainConfig(
            max_steps=3_000,
            sh_degree_interval=500,
            eval_steps=(500, 1_000, 1_500, 2_000, 2_500, 3_000),
            checkpoint_every=500,
            threads=1,
            init=InitConfig(num_random=20_000, random_extent=0.3),
            strategy=DefaultStrategy(refine_start_iter=250, refine_stop_iter=2_500,
                                     reset_every=1_000, refine_every=100),
        ),
    ),
}
"""Preset name -> (one-line description, config)."""
