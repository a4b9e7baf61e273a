"""Test PSNR versus wall time of 3DGS training on the NeRF-synthetic lego subset (CPU).

Usage:
    python bench/train_lego.py [--preset fast] [--steps N] [--threads 1] [--backend torch]
                               [--out DIR]

Data: /work/shared/data/nerf_synthetic_lego_subset (20 train / 4 test views) downscaled 4x to
200x200, white background. Random initialisation in the ±1.3 cube (as 3DGS does for
NeRF-synthetic). Prints one row per evaluation step: step, training seconds, #Gaussians,
mean test PSNR and SSIM; the full record is the run's metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

import torch

from configs.train import TRAIN_PRESETS
from splat3d.data.blender import read_blender
from splat3d.fileio import read_json
from splat3d.train import train

DATA = Path("/work/shared/data/nerf_synthetic_lego_subset")
SPLITS = {"train": "transforms_train_subset.json", "test": "transforms_test_subset.json"}
INIT_HALF_SIZE = 1.3
"""Half-size of the random-init cube in scene units (3DGS's NeRF-synthetic choice)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=sorted(TRAIN_PRESETS))
    parser.add_argument("--steps", type=int, default=None, help="override max_steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="torch", help="rasterizer backend")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_train_lego"))
    args = parser.parse_args()

    data = read_blender(DATA, downscale=4, split_files=SPLITS)
    config = TRAIN_PRESETS[args.preset][1]
    init = dataclasses.replace(config.init, kind="random",
                               random_extent=INIT_HALF_SIZE / data.scene_scale)
    config = dataclasses.replace(config, output_dir=args.out, overwrite=True, init=init,
                                 threads=args.threads, progress=False, backend=args.backend)
    if args.steps is not None:
        config = dataclasses.replace(config, max_steps=args.steps)
    t0 = time.perf_counter()
    run = train(config, dataset=data)
    wall = time.perf_counter() - t0
    metrics = read_json(run / "metrics.json")
    elapsed = {h["step"]: h["elapsed"] for h in metrics["history"]}
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads available, bench threads={args.threads}")
    print(f"preset={args.preset} steps={config.max_steps} images={data.images.shape[1]}px "
          f"backend={args.backend} wall={wall:.0f}s (training {metrics['train_seconds']:.0f}s)")
    print(f"{'step':>6} {'train s':>8} {'#Gauss':>8} {'PSNR':>7} {'SSIM':>7}")
    for step, ev in sorted((int(k), v) for k, v in metrics["evals"].items()):
        gauss = next((h["num_gaussians"] for h in metrics["history"] if h["step"] == step), -1)
        print(f"{step:>6} {elapsed.get(step, float('nan')):>8.0f} {gauss:>8} "
              f"{ev['psnr']:>7.2f} {ev['ssim']:>7.4f}")


if __name__ == "__main__":
    main()
