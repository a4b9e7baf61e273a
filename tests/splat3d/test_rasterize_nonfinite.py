"""A Gaussian with a NaN or infinite parameter is culled by every backend: it renders nothing,
the image and every other Gaussian's gradient are those of the scene without it, and the
torch and native backends agree (the rule is in splat3d/raster/projection.py)."""

from __future__ import annotations

import pytest
import torch
from test_rasterize import leaves, random_scene, render_loss, ring_cameras

from splat3d import Cameras, Gaussians
from splat3d.raster import native_backend
from splat3d.rasterize import RenderOutput, rasterize

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=1e-5, atol=1e-6)}
"""Poisoned scene against the scene without the poisoned Gaussian (the tile lists differ by
that one entry, so float32 sums may group differently)."""
TOL_BACKENDS = {torch.float64: dict(rtol=1e-7, atol=1e-9),
                torch.float32: dict(rtol=1e-4, atol=1e-5)}
"""Native against torch, as in test_native.py; float32 gradients there agree to 1e-4 of each
gradient's largest entry (GRAD_TOL32_RELATIVE_TO_MAX)."""
GRAD_TOL32_RELATIVE_TO_MAX = 1e-4

NAN, INF = float("nan"), float("inf")
CASES = [("sh", NAN), ("sh", INF), ("sh", -INF), ("opacity_logits", NAN), ("means", NAN),
         ("means", INF), ("log_scales", NAN), ("log_scales", INF), ("quats", NAN),
         ("quats", INF)]
PARAMS = [pytest.param(f, v, torch.float64, id=f"{f}={v}-f64") for f, v in CASES] + [
    pytest.param(f, v, torch.float32, id=f"{f}={v}-f32") for f, v in CASES if f == "sh"]
"""Every case in float64 (the scalar kernels); the SH cases also in float32, where the native
projection runs eight Gaussians per SIMD pack."""


def backends() -> list[str]:
    return ["torch", "native"] if native_backend.load() is not None else ["torch"]


def scene(dtype: torch.dtype) -> tuple[Gaussians, Cameras, int]:
    """200 Gaussians (SH degree 1), two 48x40 cameras, and a Gaussian both cameras render."""
    g = random_scene(200, seed=5, sh_degree=1, dtype=dtype)
    cams = ring_cameras(2, 48, 40, dtype=dtype)
    seen = rasterize(g, cams, backend="torch").visible.all(0).nonzero().squeeze(1)
    return g, cams, int(seen[len(seen) // 2])


def poison(g: Gaussians, field: str, j: int, value: float) -> Gaussians:
    """A copy of ``g`` with one entry of Gaussian ``j``'s ``field`` set to ``value`` (a
    higher-order SH coefficient for ``sh``: its colour is non-finite from every view)."""
    tensors = {k: v.detach().clone() for k, v in g.tensors().items()}
    row = tensors[field][j]
    if field == "sh":
        row[1, 0] = value
    elif row.ndim == 0:
        tensors[field][j] = value
    else:
        row[0] = value
    return Gaussians(**tensors)


def render(g: Gaussians, cams: Cameras, backend: str, **kw) -> tuple[RenderOutput, dict]:
    """Outputs and parameter gradients (zero for unused parameters) of a fixed random
    weighting of rgb, alpha and depth."""
    params = leaves(g)
    for p in params:
        p.grad = None
    out = rasterize(g, cams, backend=backend, **kw)
    gen = torch.Generator().manual_seed(2)
    outs = (out.rgb, out.alpha, out.depth)
    render_loss(outs, tuple(torch.randn(o.shape, generator=gen, dtype=o.dtype)
                            for o in outs)).backward()
    return out, {k: torch.zeros_like(p) if p.grad is None else p.grad
                 for k, p in zip(g.tensors(), params, strict=True)}


def assert_renders_close(a: tuple[RenderOutput, dict], b: tuple[RenderOutput, dict],
                         ids_a: torch.Tensor, ids_b: torch.Tensor | slice, tol: dict,
                         what: str, grad_scaled: bool = False) -> None:
    """Same images; same radii and gradients for Gaussians ``ids_a`` of ``a`` and ``ids_b``
    of ``b`` (with ``grad_scaled``, to a fraction of each gradient's largest entry)."""
    (out_a, grads_a), (out_b, grads_b) = a, b
    for name in ("rgb", "alpha", "depth"):
        torch.testing.assert_close(getattr(out_a, name), getattr(out_b, name), **tol,
                                   msg=lambda m, n=name: f"{what} {n}: {m}")
    assert torch.equal(out_a.radii[:, ids_a], out_b.radii[:, ids_b]), f"{what}: radii differ"
    for name, grad in grads_a.items():
        expected = grads_b[name][ids_b]
        if grad_scaled:
            scale = float(expected.abs().max().clamp(min=1e-6))
            tol = dict(rtol=0.0, atol=GRAD_TOL32_RELATIVE_TO_MAX * scale)
        torch.testing.assert_close(grad[ids_a], expected, **tol,
                                   msg=lambda m, n=name: f"{what} d{n}: {m}")


@pytest.mark.parametrize("field,value,dtype", PARAMS)
def test_nonfinite_gaussian_is_culled_by_every_backend(field, value, dtype):
    g, cams, j = scene(dtype)
    bad = poison(g, field, j, value)
    keep = torch.arange(len(g)) != j
    results = {}
    for backend in backends():
        poisoned = render(bad, cams, backend)
        out, grads = poisoned
        assert torch.equal(out.radii[:, j], torch.zeros_like(out.radii[:, j])), \
            f"{backend}: the poisoned Gaussian was not culled, radii {out.radii[:, j].tolist()}"
        for name in ("rgb", "alpha", "depth"):
            assert torch.isfinite(getattr(out, name)).all(), f"{backend}: non-finite {name}"
        for name, grad in grads.items():
            assert torch.isfinite(grad[keep]).all(), \
                f"{backend}: non-finite d{name} of {int((~torch.isfinite(grad[keep])).sum())} " \
                "other Gaussian entries"
        without = render(g[keep].detach(), cams, backend)
        assert_renders_close(poisoned, without, keep, slice(None), TOL[dtype],
                             f"{backend} vs removed")
        results[backend] = poisoned
    if "native" in results:
        assert_renders_close(results["native"], results["torch"], keep, keep,
                             TOL_BACKENDS[dtype], "native vs torch",
                             grad_scaled=dtype == torch.float32)


@pytest.mark.parametrize("value", [NAN, INF])
def test_nonfinite_given_colour_is_culled_by_every_backend(value):
    g, cams, j = scene(torch.float64)
    colors = torch.rand(len(g), 5, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    colors[j, 2] = value
    keep = torch.arange(len(g)) != j
    results = {}
    for backend in backends():
        poisoned = render(g.detach(), cams, backend, colors=colors)
        assert torch.equal(poisoned[0].radii[:, j], torch.zeros_like(poisoned[0].radii[:, j]))
        without = render(g[keep].detach(), cams, backend, colors=colors[keep])
        assert_renders_close(poisoned, without, keep, slice(None), TOL[torch.float64],
                             f"{backend} vs removed")
        results[backend] = poisoned
    if "native" in results:
        assert_renders_close(results["native"], results["torch"], keep, keep,
                             TOL_BACKENDS[torch.float64], "native vs torch")
