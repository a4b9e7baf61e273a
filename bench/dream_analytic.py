"""Proof 1 of issue #7 at full size: distil an exact analytic prior (``x0 ~ N(render of a known
procedural object from the sampled camera, s^2 I)``, :mod:`text2d3.dream.analytic`) from a
random ball of Gaussians, and report the held-out PSNR for each SDS weighting and time
schedule, with the wall time (median of ``--repeats`` runs, one torch thread).

Run: ``python bench/dream_analytic.py [--steps 600] [--resolution 64] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from splat3d.gaussians import Gaussians
from splat3d.rasterize import rasterize
from text2d3.dream.analytic import AnalyticGuide
from text2d3.dream.annealing import LinearAnneal, SqrtAnneal, UniformTime
from text2d3.dream.cameras import CameraConfig, CameraSampler
from text2d3.dream.config import StageConfig
from text2d3.dream.loop import distill
from text2d3.procedural import BACKGROUND, ObjectLabel, make_object

SCHEDULES = {
    "uniform": UniformTime((0.02, 0.98)),
    "linear": LinearAnneal((0.02, 0.98), (0.02, 0.2)),
    "sqrt": SqrtAnneal((0.02, 0.98), (0.02, 0.2)),
}


def run(weighting: str, schedule: str, steps: int, resolution: int, seed: int) -> tuple[float,
                                                                                        float]:
    """Held-out PSNR (dB) and seconds of one distillation."""
    target = make_object(ObjectLabel(0, 3), seed=1)
    guide = AnalyticGuide(target, data_std=0.05)
    init = Gaussians.random_sphere(2000, 0.6, sh_degree=0, opacity=0.3, seed=seed)
    cams = CameraConfig(resolution=resolution)
    stage = StageConfig(steps=steps, weighting=weighting, views_per_step=4,
                        annealing=SCHEDULES[schedule], cameras=cams)
    t0 = time.perf_counter()
    result = distill(init, [(stage, guide)], "", seed=seed)
    seconds = time.perf_counter() - t0
    held_out = CameraSampler(cams).sample(16, torch.Generator().manual_seed(10_000 + seed))
    bg = torch.tensor(BACKGROUND)
    ours = rasterize(result.gaussians, held_out.cameras, background=bg).rgb.clamp(0, 1)
    truth = rasterize(target, held_out.cameras, background=bg).rgb.clamp(0, 1)
    return float(-10 * torch.log10((ours - truth).square().mean())), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"analytic prior, red torus target, {args.steps} steps, {args.resolution} px, "
          f"4 views/step, 2000 Gaussians, median of {args.repeats} seeds")
    print(f"{'weighting':10s} {'schedule':8s} {'PSNR dB':>8s} {'min':>6s} {'seconds':>8s}")
    for weighting in ("uniform", "sigma2", "snr"):
        for schedule in SCHEDULES:
            runs = [run(weighting, schedule, args.steps, args.resolution, seed)
                    for seed in range(args.repeats)]
            psnrs, secs = zip(*runs, strict=True)
            print(f"{weighting:10s} {schedule:8s} {statistics.median(psnrs):8.2f} "
                  f"{min(psnrs):6.2f} {statistics.median(secs):8.1f}", flush=True)


if __name__ == "__main__":
    main()
