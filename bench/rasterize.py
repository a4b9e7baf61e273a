"""Forward+backward timing of the rasterizer backends on synthetic scenes.

Usage:
    python bench/rasterize.py [--backends torch native] [--repeats 7] [--threads N] [--scaling]

Scene: N Gaussians uniform in a unit ball (3DGS kNN scale init, opacity 0.5, SH degree 3),
one camera 3 units away with a 50° field of view. Prints the median wall time of
forward+backward over ``--repeats`` runs (after one warm-up) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

import torch

from splat3d import Cameras, Gaussians
from splat3d.rasterize import rasterize

SIZES = [(100, 100, 5_000), (256, 256, 100_000)]
SCALING = [(64, 64, 20_000), (128, 128, 20_000), (256, 256, 20_000), (512, 512, 20_000),
           (256, 256, 10_000), (256, 256, 50_000), (256, 256, 200_000)]
"""Extra image sizes and Gaussian counts for ``--scaling``."""


def scene(n: int, width: int, height: int) -> tuple[Gaussians, Cameras]:
    g = Gaussians.random_sphere(n, radius=1.0, sh_degree=3, opacity=0.5, seed=0)
    g.sh[:, 1:] = torch.randn_like(g.sh[:, 1:]) * 0.1
    cams = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.8]]), torch.zeros(1, 3),
                                fov_x=0.87, width=width, height=height)
    return g, cams


def time_fwd_bwd(g: Gaussians, cams: Cameras, backend: str, repeats: int) -> float:
    params = [t.requires_grad_(True) for t in g.tensors().values()]
    times = []
    for i in range(repeats + 1):
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        out = rasterize(g, cams, backend=backend)
        (out.rgb.sum() + out.alpha.sum()).backward()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", nargs="+", default=["torch"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--scaling", action="store_true", help="also time the SCALING grid")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print("| backend | image | Gaussians | fwd+bwd ms |")
    print("|---|---|---|---|")
    if "native" in args.backends:
        from splat3d.raster import native_backend

        if not native_backend.available(torch.device("cpu")):
            raise SystemExit("the native backend cannot be built here; not timing it")
    for w, h, n in SIZES + (SCALING if args.scaling else []):
        g, cams = scene(n, w, h)
        for backend in args.backends:
            ms = 1000 * time_fwd_bwd(g, cams, backend, args.repeats)
            print(f"| {backend} | {w}x{h} | {n} | {ms:.1f} |", flush=True)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
