"""A self-contained demo: a procedural Gaussian scene, rendered from a ring of cameras and
reconstructed from scratch with the 3DGS trainer (no data needed).

The scene is a red sphere, a blue box and a green torus standing on a grey ground disc, each
made of flat Gaussians on the surface. Its renders (train and held-out test views) are the
dataset; training starts from random Gaussians in a box around it.

Example:
    >>> result = run_demo("outputs/demo")  # doctest: +SKIP
    >>> round(result["test_psnr"])  # doctest: +SKIP
    30
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.data import SceneDataset, rig_radius
from splat3d.gaussians import Gaussians
from splat3d.rasterize import rasterize
from splat3d.strategy import DefaultStrategy
from splat3d.train.config import InitConfig, TrainConfig
from splat3d.train.trainer import torch_threads, train

SCENE_CENTER = (0.0, 0.0, 0.25)


def build_scene(density: int = 1, seed: int = 0) -> Gaussians:
    """The ground-truth Gaussians (SH degree 0); ``density`` multiplies their number
    (~2,300 at 1)."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(n: int) -> Tensor:
        return torch.rand(n, generator=gen)

    parts = []
    n = 900 * density  # ground disc, radius 1.4, a faint two-tone pattern
    r, a = 1.4 * uniform(n).sqrt(), 2 * math.pi * uniform(n)
    pts = torch.stack([r * a.cos(), r * a.sin(), torch.zeros(n)], -1)
    tone = 0.45 + 0.15 * ((pts[:, 0] * 3).floor() + (pts[:, 1] * 3).floor()).remainder(2)
    parts.append(Gaussians.surface_discs(pts, torch.tensor([[0.0, 0, 1]]).expand(n, 3),
                                         tone[:, None].expand(n, 3), 0.06 / density**0.5))
    n = 600 * density  # sphere
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    parts.append(Gaussians.surface_discs(torch.tensor([-0.55, 0.25, 0.35]) + 0.33 * d, d,
                                         torch.tensor([[0.85, 0.2, 0.15]]).expand(n, 3),
                                         0.05 / density**0.5))
    n = 600 * density  # box (axis-aligned cube of side 0.5), one face per sample
    face = torch.randint(0, 6, (n,), generator=gen)
    uv = torch.rand(n, 2, generator=gen) - 0.5
    axis, sign = face // 2, (face % 2) * 2 - 1.0
    normal = torch.nn.functional.one_hot(axis, 3).float() * sign[:, None]
    rows = torch.arange(n)
    local = torch.empty(n, 3)
    local[rows, axis] = 0.5 * sign
    local[rows, (axis + 1) % 3] = uv[:, 0]
    local[rows, (axis + 2) % 3] = uv[:, 1]
    parts.append(Gaussians.surface_discs(torch.tensor([0.55, 0.3, 0.25]) + 0.5 * local, normal,
                                         torch.tensor([[0.15, 0.3, 0.85]]).expand(n, 3),
                                         0.05 / density**0.5))
    n = 500 * density  # torus lying on the ground
    u, v = 2 * math.pi * uniform(n), 2 * math.pi * uniform(n)
    ring = torch.stack([u.cos(), u.sin(), torch.zeros(n)], -1)
    normal = ring * v.cos()[:, None] + torch.tensor([0.0, 0, 1]) * v.sin()[:, None]
    pts = torch.tensor([0.0, -0.6, 0.1]) + 0.3 * ring + 0.1 * normal
    parts.append(Gaussians.surface_discs(pts, normal, torch.tensor([[0.2, 0.75, 0.3]]).expand(n, 3),
                                         0.035 / density**0.5))
    return Gaussians.cat(parts)


def ring_cameras(n: int, size: int, radius: float = 3.2, height: float = 1.6,
                 fov: float = 0.75, phase: float = 0.0) -> Cameras:
    """``n`` cameras evenly on a circle around the scene, looking at its centre."""
    angles = torch.arange(n) * (2 * math.pi / n) + phase
    eye = torch.stack([radius * angles.cos(), radius * angles.sin(),
                       torch.full((n,), height)], -1)
    return Cameras.from_look_at(eye, torch.tensor([SCENE_CENTER]).expand(n, 3), fov_x=fov,
                                width=size, height=size)


@torch.no_grad()
def render_dataset(scene: Gaussians, n_train: int, n_test: int, size: int,
                   background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> SceneDataset:
    """Render train views on one ring and test views on the ring offset by half a step."""
    cams = Cameras.cat([ring_cameras(n_train, size),
                        ring_cameras(n_test, size, phase=math.pi / max(n_test, 1) + 0.1)])
    rgb, alpha = [], []
    for i in range(len(cams)):  # one view at a time keeps memory flat
        out = rasterize(scene, cams[i], background=torch.tensor(background), backend="torch")
        rgb.append(out.rgb.clamp(0, 1))
        alpha.append(out.alpha)
    names = [f"train_{i:03d}" for i in range(n_train)] + [f"test_{i:03d}" for i in range(n_test)]
    splits = {"train": list(range(n_train)), "test": list(range(n_train, n_train + n_test))}
    return SceneDataset(torch.cat(rgb), cams, splits, names, rig_radius(cams, splits["train"]),
                        background, alpha=torch.cat(alpha), format="demo")


def demo_config(output_dir: Path, steps: int = 500, num_random: int = 2000) -> TrainConfig:
    """The demo's training settings: 3DGS schedule compressed to ``steps`` steps."""
    refine_every = max(steps // 15, 10)
    return TrainConfig(
        output_dir=Path(output_dir), max_steps=steps, sh_degree=1,
        sh_degree_interval=max(steps // 3, 1), eval_steps=(steps // 2, steps),
        checkpoint_every=steps, backend="torch",
        init=InitConfig(kind="random", num_random=num_random, random_extent=0.45),
        strategy=DefaultStrategy(refine_start_iter=refine_every, refine_every=refine_every,
                                 refine_stop_iter=int(0.8 * steps), reset_every=steps // 2,
                                 pause_refine_after_reset=refine_every // 2),
    )


def run_demo(output_dir: Path | str = Path("outputs/demo"), *, steps: int = 500,
             image_size: int = 64, n_train: int = 24, n_test: int = 6,
             num_random: int = 2000, overwrite: bool = True, progress: bool = True,
             seed: int = 0, threads: int | None = 1) -> dict[str, Any]:
    """Build, render and reconstruct the demo scene; return the test scores.

    Args:
        output_dir: run folder (see :func:`splat3d.train.train`).
        steps: training steps.
        image_size: square image side in pixels.
        n_train: training views on the camera ring.
        n_test: held-out views, between the training ones.
        num_random: Gaussians at random initialisation.
        overwrite: replace an earlier demo run in ``output_dir``.
        progress: show the progress bar.
        seed: seed of the scene and of training.
        threads: torch CPU threads (1 keeps a shared machine from stalling the demo).

    Returns:
        ``{"test_psnr", "test_ssim", "num_gaussians", "seconds", "run_dir"}``.
    """
    t0 = time.perf_counter()
    with torch_threads(threads):
        data = render_dataset(build_scene(seed=seed), n_train, n_test, image_size)
    config = replace(demo_config(Path(output_dir), steps, num_random), overwrite=overwrite,
                     progress=progress, seed=seed, threads=threads)
    run_dir = train(config, dataset=data)
    from splat3d.fileio import read_json

    metrics = read_json(run_dir / "metrics.json")
    result = {"test_psnr": metrics["final"]["psnr"], "test_ssim": metrics["final"]["ssim"],
              "num_gaussians": metrics["num_gaussians"], "seconds": time.perf_counter() - t0,
              "num_test_views": n_test, "run_dir": str(run_dir)}
    return result
