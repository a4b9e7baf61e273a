"""Forward+backward timing of the rasterizer backends on synthetic scenes.

Usage:
    python bench/rasterize.py [--backends torch native] [--repeats 7] [--threads 2 1]
                              [--scaling] [--stages]

Scene: N Gaussians uniform in a unit ball (3DGS kNN scale init, opacity 0.5, SH degree 3),
one camera 3 units away with a 50° field of view. For every thread count of ``--threads``
it prints one table: the median wall time of forward+backward over ``--repeats`` runs (after
one warm-up) per backend side by side, and each backend's speed-up over the first one.
``--scaling`` adds image sizes and Gaussian counts; ``--stages`` adds the native kernels'
per-stage CPU time on one thread (min over repeats). The header line has the load average:
on a shared machine compare only numbers taken at low load.
"""

from __future__ import annotations

import argparse
import os
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


def stage_times(w: int, h: int, n: int, repeats: int) -> tuple[int, list[float]]:
    """(pairs, CPU ms of projection fwd, binning, compositing fwd, compositing bwd,
    projection bwd), each the min over ``repeats`` calls of the native op on one thread."""
    from splat3d.raster import native_backend

    ext = native_backend.load()
    g, cams = scene(n, w, h)
    args = (g.means, g.quats, g.log_scales, g.opacity_logits, g.sh, cams.world_to_cam, cams.K)
    opts = (w, h, 0.01, 1e10, 3, False)

    def best(fn):
        ms = []
        for _ in range(repeats):
            t0 = time.process_time()
            out = fn()
            ms.append(1000 * (time.process_time() - t0))
        return min(ms), out

    t_pf, (m2, con, op, feat, ext_, ok, _radii) = best(lambda: ext.project_forward(*args, *opts))
    z = feat[..., -1].contiguous()
    t_bin, (ids, starts, counts) = best(lambda: ext.bin_gaussians(m2, con, op, ext_, z, ok, w, h))
    bins = (ids, starts, counts)
    t_cf, (fsum, trans, last) = best(
        lambda: ext.composite_forward(m2, con, op, feat, ext_, *bins, w, h))
    gen = torch.Generator().manual_seed(0)
    g_fsum = torch.randn(fsum.shape, generator=gen)
    g_trans = torch.randn(trans.shape, generator=gen)
    t_cb, grads = best(lambda: ext.composite_backward(m2, con, op, feat, ext_, *bins, fsum, trans,
                                                      last, g_fsum, g_trans))
    t_pb, _ = best(lambda: ext.project_backward(*args, *opts, *grads))
    return ids.numel(), [t_pf, t_bin, t_cf, t_cb, t_pb]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", nargs="+", default=["torch"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    ap.add_argument("--scaling", action="store_true", help="also time the SCALING grid")
    ap.add_argument("--stages", action="store_true",
                    help="also time the native kernels stage by stage on one thread")
    args = ap.parse_args()
    torch.manual_seed(0)
    if "native" in args.backends or args.stages:
        from splat3d.raster import native_backend

        if not native_backend.available(torch.device("cpu")):
            raise SystemExit("the native backend cannot be built here; not timing it")
    sizes = SIZES + (SCALING if args.scaling else [])
    first = args.backends[0]
    for threads in args.threads:
        torch.set_num_threads(threads)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        wait = os.environ.get("OMP_WAIT_POLICY", "unset")
        print(f"\n# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{threads} thread(s), median of {args.repeats}, load average {load}, "
              f"OMP_WAIT_POLICY {wait}")
        cols = [f"{b} ms" for b in args.backends]
        cols += [f"{b} speed-up" for b in args.backends[1:]]
        print("| image | Gaussians | " + " | ".join(cols) + " |")
        print("|---|---:|" + "---:|" * len(cols))
        for w, h, n in sizes:
            g, cams = scene(n, w, h)
            ms = {b: 1000 * time_fwd_bwd(g, cams, b, args.repeats) for b in args.backends}
            row = [f"{ms[b]:.1f}" for b in args.backends]
            row += [f"{ms[first] / ms[b]:.1f}x" for b in args.backends[1:]]
            print(f"| {w}x{h} | {n:,} | " + " | ".join(row) + " |", flush=True)
    if args.stages:
        torch.set_num_threads(1)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n# native stages: 1 thread, CPU ms, min of {args.repeats}, load average {load}")
        print("| image | Gaussians | pairs | proj fwd | binning | comp fwd | comp bwd | proj bwd "
              "| sum |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w, h, n in SIZES:
            pairs, t = stage_times(w, h, n, args.repeats)
            print(f"| {w}x{h} | {n:,} | {pairs:,} | " + " | ".join(f"{x:.1f}" for x in t)
                  + f" | {sum(t):.1f} |", flush=True)
    print(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
