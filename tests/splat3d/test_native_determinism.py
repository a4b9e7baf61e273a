"""The native CPU kernels are deterministic: the same scene gives bit-identical images and
gradients on every run, whatever the thread count (threads take tiles in no fixed order,
but every sum is taken in a fixed order, cuda/cpu/composite_cpu.cpp)."""

from __future__ import annotations

import pytest
import torch

from splat3d import Cameras, Gaussians
from splat3d.raster import native_backend
from splat3d.rasterize import rasterize
from splat3d.train.trainer import torch_threads


@pytest.fixture(scope="module", autouse=True)
def extension():
    if native_backend.load() is None:
        pytest.skip("native extension cannot be built here (see the warning for why)")


def forward_backward(g: Gaussians, cams: Cameras, threads: int) -> list[torch.Tensor]:
    """Images, means2d gradient and parameter gradients of one render on ``threads`` threads."""
    params = [p.requires_grad_(True) for p in g.tensors().values()]
    for p in params:
        p.grad = None
    with torch_threads(threads):
        out = rasterize(g, cams, backend="native")
        out.means2d.retain_grad()
        gen = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=gen)).sum()
                   for o in (out.rgb, out.alpha, out.depth))
        loss.backward()
    return [out.rgb, out.alpha, out.depth, out.means2d.grad] + [p.grad for p in params]


def test_forward_and_backward_are_bit_identical_across_runs_and_thread_counts():
    # thousands of Gaussians over 2 x 48 tiles, so every thread gets many tiles
    g = Gaussians.random_sphere(20_000, radius=1.0, sh_degree=3, opacity=0.5, seed=0)
    g.sh[:, 1:] = torch.randn(g.sh[:, 1:].shape, generator=torch.Generator().manual_seed(0)) * 0.1
    cams = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.8], [2.5, -1.5, -0.5]]),
                                torch.zeros(2, 3), fov_x=0.87, width=128, height=96)
    reference = forward_backward(g, cams, threads=1)
    names = ["rgb", "alpha", "depth", "d means2d"] + [f"d {k}" for k in g.tensors()]
    for run, threads in enumerate([2, 2, 2, 3]):
        result = forward_backward(g, cams, threads)
        for name, a, b in zip(names, reference, result, strict=True):
            assert torch.equal(a, b), (f"run {run} on {threads} threads: {name} differs from one "
                                       f"thread in {int((a != b).sum())} entries")
