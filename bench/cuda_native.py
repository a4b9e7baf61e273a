"""CUDA check of the native backend: parity with the PyTorch backend, then timings.

Usage (on a machine with a CUDA GPU and nvcc):
    python bench/cuda_native.py [--repeats 20]

On CUDA tensors the native backend runs our CUDA projection, binning and compositing
kernels (``cuda/cuda/``). Parity: for several seeds, SH degrees 0 and 3, both
modes, and 1-2 cameras, the native CUDA forward outputs and the gradients of all five
Gaussian parameter groups are compared with the PyTorch backend in float64 on the CPU (the
backend the brute-force tests pin down), and the CUDA backends (gsplat's ``rasterization()``
too when gsplat is installed) are timed forward+backward on the scene of
``bench/rasterize.py``. Exits non-zero when any comparison fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from splat3d import Cameras, Gaussians
from splat3d.raster import gsplat_backend, native_backend
from splat3d.rasterize import rasterize

RTOL, ATOL = 1e-3, 1e-4
"""float32 GPU against the float64 CPU reference."""


def small_scene(seed: int, sh_degree: int, n_cams: int) -> tuple[Gaussians, Cameras]:
    g = Gaussians.random_sphere(300, radius=1.0, sh_degree=sh_degree, opacity=0.6, seed=seed)
    if sh_degree:
        g.sh[:, 1:] = torch.randn_like(g.sh[:, 1:]) * 0.1
    eyes = torch.tensor([[0.0, -3.0, 0.8], [2.5, -1.5, 0.3]])[:n_cams]
    cams = Cameras.from_look_at(eyes, torch.zeros(n_cams, 3), fov_x=0.9, width=48, height=40)
    return g, cams


def outputs_and_grads(g: Gaussians, cams: Cameras, backend: str, device: str,
                      dtype: torch.dtype, sh_degree: int, mode: str) -> dict[str, torch.Tensor]:
    params = {k: v.detach().to(device, dtype).requires_grad_(True)
              for k, v in g.tensors().items()}
    g2 = Gaussians(**params)
    c2 = Cameras(cams.K.to(device, dtype), cams.world_to_cam.to(device, dtype),
                 cams.width, cams.height)
    out = rasterize(g2, c2, sh_degree=sh_degree, mode=mode, backend=backend,
                    background=torch.tensor([0.2, 0.3, 0.4], device=device, dtype=dtype))
    weights = torch.linspace(0.5, 1.5, out.rgb.numel(), device=device, dtype=dtype)
    loss = (out.rgb.flatten() * weights).sum() + out.alpha.sum() + 0.1 * out.depth.sum()
    loss.backward()
    result = {"rgb": out.rgb, "alpha": out.alpha, "depth": out.depth}
    result.update({f"grad_{k}": p.grad for k, p in params.items()})
    return {k: v.detach().double().cpu() for k, v in result.items()}


def parity() -> int:
    failures = 0
    for seed in range(3):
        for sh_degree in (0, 3):
            for mode in ("classic", "antialiased"):
                for n_cams in (1, 2):
                    g, cams = small_scene(seed, sh_degree, n_cams)
                    ref = outputs_and_grads(g, cams, "torch", "cpu", torch.float64,
                                            sh_degree, mode)
                    got = outputs_and_grads(g, cams, "native", "cuda", torch.float32,
                                            sh_degree, mode)
                    for key, want in ref.items():
                        scale = want.abs().max().clamp_min(1e-12)
                        err = ((got[key] - want).abs() / scale).max().item()
                        ok = torch.allclose(got[key], want, rtol=RTOL, atol=ATOL * scale)
                        failures += not ok
                        if not ok or key in ("rgb", "grad_means"):
                            print(f"seed {seed} sh {sh_degree} {mode} cams {n_cams} {key}: "
                                  f"max err / max |ref| = {err:.2e} {'ok' if ok else 'FAIL'}")
    return failures


def time_fwd_bwd(g: Gaussians, cams: Cameras, backend: str, repeats: int) -> float:
    params = {k: v.detach().cuda().requires_grad_(True) for k, v in g.tensors().items()}
    g2 = Gaussians(**params)
    c2 = Cameras(cams.K.cuda(), cams.world_to_cam.cuda(), cams.width, cams.height)
    times = []
    for i in range(repeats + 2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = rasterize(g2, c2, backend=backend)
        (out.rgb.sum() + out.alpha.sum()).backward()
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    if not native_backend.available(torch.device("cuda")):
        raise SystemExit("the native backend has no CUDA kernels here (nvcc / CUDA_HOME?)")
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    failures = parity()
    print(f"parity: {failures} failed comparisons")
    backends = ["torch", "native"] + (["gsplat"] if gsplat_backend.available() else [])
    print("| image | Gaussians | " + " | ".join(f"{b} (CUDA) ms" for b in backends) + " |")
    print("|---|---|" + "---:|" * len(backends))
    for w, h, n in [(256, 256, 100_000), (512, 512, 200_000), (1024, 1024, 1_000_000)]:
        g = Gaussians.random_sphere(n, radius=1.0, sh_degree=3, opacity=0.5, seed=0)
        cams = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.8]]), torch.zeros(1, 3),
                                    fov_x=0.87, width=w, height=h)
        times = [time_fwd_bwd(g, cams, b, args.repeats) for b in backends]
        print(f"| {w}x{h} | {n:,} | " + " | ".join(f"{t:.1f}" for t in times) + " |", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
