"""The native (C++) backend against the torch backend and the float64 brute-force renderer of
test_rasterize.py: forward outputs, every gradient, screen-space info, thread-count
independence, edge cases; plus a compile check of the CUDA sources with nvcc.

Skips when the extension cannot be built here (no compiler); the build is cached on disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from test_rasterize import (
    edge_scene,
    leaves,
    random_scene,
    reference_render,
    render_loss,
    ring_cameras,
)

from splat3d import Cameras, Gaussians
from splat3d.raster import native_backend
from splat3d.rasterize import rasterize

TOL64 = dict(rtol=1e-7, atol=1e-9)  # float64 native vs torch backend and vs the reference
TOL32 = dict(rtol=2e-3, atol=2e-4)  # float32 native vs the float64 reference
TOL32_PAIR = dict(rtol=1e-4, atol=1e-5)  # float32 native vs float32 torch (or itself)


@pytest.fixture(scope="module", autouse=True)
def extension():
    if native_backend.load() is None:
        pytest.skip("native extension cannot be built here (see the warning for why)")


def render_all(g: Gaussians, cams: Cameras, backend: str, weights=None, **kw):
    """Forward outputs, means2d gradient, radii and parameter gradients of one render."""
    params = leaves(g)
    for p in params:
        p.grad = None
    out = rasterize(g, cams, backend=backend, **kw)
    out.means2d.retain_grad()
    outs = (out.rgb, out.alpha, out.depth)
    if weights is None:
        gen = torch.Generator().manual_seed(1)
        weights = tuple(torch.randn(o.shape, generator=gen, dtype=o.dtype) for o in outs)
    render_loss(outs, weights).backward()
    grads = {name: p.grad.clone() for name, p in zip(g.tensors(), params, strict=True)}
    return out, grads


def assert_same(a, b, tol, what=""):
    out_a, grads_a = a
    out_b, grads_b = b
    for name in ("rgb", "alpha", "depth", "means2d"):
        torch.testing.assert_close(getattr(out_a, name), getattr(out_b, name), **tol,
                                   msg=lambda m, n=name: f"{what} {n}: {m}")
    torch.testing.assert_close(out_a.means2d.grad, out_b.means2d.grad, **tol,
                               msg=lambda m: f"{what} means2d.grad: {m}")
    assert torch.equal(out_a.radii, out_b.radii), f"{what} radii differ"
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], **tol,
                                   msg=lambda m, n=name: f"{what} d{n}: {m}")


def assert_close_to_torch32(native, torch32):
    """float32 native against float32 torch renders (render_all results): images to float
    rounding, gradients to 1e-4 of each gradient's largest entry."""
    for name in ("rgb", "alpha", "depth"):
        torch.testing.assert_close(getattr(native[0], name), getattr(torch32[0], name),
                                   **TOL32_PAIR)
    for name, grad in native[1].items():
        scale = torch32[1][name].abs().max().clamp(min=1e-6)
        torch.testing.assert_close(grad / scale, torch32[1][name] / scale, rtol=0, atol=1e-4,
                                   msg=lambda m, n=name: f"d{n}: {m}")


CASES = [
    (0, 0, "classic", 1, (37, 29)),
    (1, 1, "antialiased", 2, (40, 24)),
    (2, 2, "classic", 3, (33, 47)),
    (3, 3, "antialiased", 2, (50, 36)),
]


@pytest.mark.parametrize("seed,sh_degree,mode,n_cams,size", CASES)
def test_float64_matches_torch_backend_and_bruteforce(seed, sh_degree, mode, n_cams, size):
    g = random_scene(60, seed, sh_degree)
    cams = ring_cameras(n_cams, *size, seed=seed)
    bg = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    native = render_all(g, cams, "native", background=bg, mode=mode)
    assert native[0].alpha.max() > 0.5, "scene should cover part of the image"
    assert_same(native, render_all(g, cams, "torch", background=bg, mode=mode), TOL64, "torch")

    ref = reference_render(g, cams, sh_degree, bg, mode == "antialiased")
    gen = torch.Generator().manual_seed(seed)
    weights = tuple(torch.randn(r.shape, generator=gen, dtype=torch.float64) for r in ref)
    out, grads = render_all(g, cams, "native", weights, background=bg, mode=mode)
    params = leaves(g)
    for p in params:
        p.grad = None
    render_loss(ref, weights).backward()
    for name, r in zip(("rgb", "alpha", "depth"), ref, strict=True):
        torch.testing.assert_close(getattr(out, name), r, **TOL64)
    for (name, ours), p in zip(grads.items(), params, strict=True):
        torch.testing.assert_close(ours, p.grad, **TOL64, msg=lambda m, n=name: f"d{n}: {m}")


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_float32_close_to_torch_float32_and_float64_reference(mode):
    g = random_scene(300, 7, 3)
    cams = ring_cameras(2, 70, 50, seed=7)
    g32, cams32 = g.to(dtype=torch.float32), cams.to(dtype=torch.float32)
    native = render_all(g32, cams32, "native", mode=mode)
    torch32 = render_all(g32, cams32, "torch", mode=mode)
    assert_close_to_torch32(native, torch32)
    ref = reference_render(g, cams, 3, torch.zeros(3), mode == "antialiased")
    torch.testing.assert_close(native[0].rgb.double(), ref[0], **TOL32)
    torch.testing.assert_close(native[0].alpha.double(), ref[1], **TOL32)


def test_results_do_not_depend_on_thread_count():
    g = random_scene(2000, 9, 3).to(dtype=torch.float32)
    g.log_scales.data -= 1.0
    cams = ring_cameras(2, 96, 80, seed=9).to(dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = render_all(g, cams, "native")
        torch.set_num_threads(2)
        two = render_all(g, cams, "native")
    finally:
        torch.set_num_threads(threads)
    assert_same(one, two, TOL32_PAIR, "1 vs 2 threads")


def test_features_and_camera_batches():
    g = random_scene(80, 5, 0)
    cams = ring_cameras(3, 31, 23, seed=5)
    feats = torch.rand(80, 5, dtype=torch.float64)
    both = rasterize(g, cams, colors=feats, backend="native")
    assert both.rgb.shape == (3, 23, 31, 5)
    torch.testing.assert_close(both.rgb, reference_render(g, cams, 0, torch.zeros(5), False,
                                                          colors=feats)[0], **TOL64)
    single = rasterize(g, cams[1], colors=feats, backend="native")
    torch.testing.assert_close(single.rgb[0], both.rgb[1], **TOL64)
    per_camera = torch.rand(3, 80, 2, dtype=torch.float64)
    torch.testing.assert_close(rasterize(g, cams, colors=per_camera, backend="native").rgb,
                               rasterize(g, cams, colors=per_camera, backend="torch").rgb,
                               **TOL64)


@pytest.mark.parametrize("given_colors", [False, True])
def test_projection_outputs_and_gradients_match_torch_projection(given_colors):
    """The native projection on its own: every output (radii included) and the gradients of
    a loss on all of them (colours and depths too, which share one buffer natively)."""
    from splat3d.raster import projection as torch_projection

    g = random_scene(70, 11, 2)
    cams = ring_cameras(2, 41, 33, seed=11)
    colors = torch.rand(70, 3, dtype=torch.float64) if given_colors else None
    results = []
    for project in (native_backend.project, torch_projection.project):
        params = leaves(g)
        for p in params:
            p.grad = None
        proj = project(g, cams, sh_degree=2, colors=colors, antialiased=True)
        gen = torch.Generator().manual_seed(2)
        outs = (proj.means2d, proj.conics, proj.opacities, proj.depths, proj.colors)
        loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs)
        loss.backward()
        results.append((proj, [p.grad.clone() if p.grad is not None else None for p in params]))
    (ours, our_grads), (ref, ref_grads) = results
    for name in ("means2d", "conics", "opacities", "depths", "colors", "extents"):
        torch.testing.assert_close(getattr(ours, name)[ref.valid], getattr(ref, name)[ref.valid],
                                   **TOL64, msg=lambda m, n=name: f"{n}: {m}")
    assert torch.equal(ours.valid, ref.valid)
    assert torch.equal(ours.radii, ref.radii)
    for a, b in zip(our_grads, ref_grads, strict=True):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b, **TOL64)


def test_long_lists_in_one_tile():
    n = 400
    gen = torch.Generator().manual_seed(3)
    g = Gaussians(torch.randn(n, 3, generator=gen) * 0.01, torch.randn(n, 4, generator=gen),
                  torch.full((n, 3), -4.5), torch.full((n,), -2.5),
                  torch.rand(n, 1, 3, generator=gen)).to(dtype=torch.float64)
    cams = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.0]]), torch.zeros(1, 3), 0.2, 16,
                                16).to(dtype=torch.float64)
    assert_same(render_all(g, cams, "native"), render_all(g, cams, "torch"), TOL64)


def edge_scene64() -> tuple[Gaussians, Cameras]:
    g, cams = edge_scene()
    return g.to(dtype=torch.float64), cams.to(dtype=torch.float64)


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
@pytest.mark.parametrize("case", ["edge", "empty", "1x1"])
def test_edge_cases_match_torch_backend(mode, case):
    g, cams = edge_scene64()
    if case == "empty":
        g = Gaussians.empty(1).to(dtype=torch.float64)
    elif case == "1x1":
        cams = cams.resized(1, 1)
    native = render_all(g, cams, "native", mode=mode)
    for t in (native[0].rgb, native[0].alpha, native[0].depth, *native[1].values()):
        assert torch.isfinite(t).all()
    assert_same(native, render_all(g, cams, "torch", mode=mode), TOL64)
    if case == "edge":
        assert native[0].radii[0, 0].eq(0).all(), "Gaussian behind the camera must be culled"


def assert_radii_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    """float32 radii: the same Gaussians culled, and the ceil of extents that agree to float
    rounding (a huge extent such as 342422.99 may round to either side of an integer)."""
    assert torch.equal(ours == 0, ref == 0)
    assert (ours - ref).abs().max() <= 1
    big = ref.abs() > 1000
    assert torch.equal(ours[~big], ref[~big])


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
@pytest.mark.parametrize("sh_degree", [None, 0, 1, 3])
def test_float32_projection_matches_torch_float32(sh_degree, mode):
    """float32 runs the projection on packs of eight Gaussians (cuda/cpu/lanes.h): every
    output and gradient against the torch projection in float32, for each SH degree and for
    given colours (None), with a Gaussian count that leaves a partial pack."""
    from splat3d.raster import projection as torch_projection

    g = random_scene(70, 13, sh_degree or 0, dtype=torch.float32)
    cams = ring_cameras(2, 41, 33, seed=13, dtype=torch.float32)
    colors = torch.rand(70, 3) if sh_degree is None else None
    results = []
    for project in (native_backend.project, torch_projection.project):
        params = leaves(g)
        for p in params:
            p.grad = None
        proj = project(g, cams, sh_degree=sh_degree or 0, colors=colors,
                       antialiased=mode == "antialiased")
        gen = torch.Generator().manual_seed(2)
        outs = (proj.means2d, proj.conics, proj.opacities, proj.depths, proj.colors)
        loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)
        loss.backward()
        results.append((proj, [p.grad.clone() if p.grad is not None else None for p in params]))
    (ours, our_grads), (ref, ref_grads) = results
    assert torch.equal(ours.valid, ref.valid)
    assert_radii_close(ours.radii, ref.radii)
    for name in ("means2d", "conics", "opacities", "depths", "colors", "extents"):
        torch.testing.assert_close(getattr(ours, name)[ref.valid], getattr(ref, name)[ref.valid],
                                   **TOL32_PAIR, msg=lambda m, n=name: f"{n}: {m}")
    for a, b in zip(our_grads, ref_grads, strict=True):
        if b is None:
            assert a is None or not a.any()
        else:
            scale = b.abs().max().clamp(min=1e-6)
            torch.testing.assert_close(a / scale, b / scale, rtol=0, atol=1e-4)


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_float32_edge_cases_match_torch_float32(mode):
    g, cams = edge_scene()  # six Gaussians: one partial pack
    native = render_all(g, cams, "native", mode=mode)
    for t in (native[0].rgb, native[0].alpha, native[0].depth, *native[1].values()):
        assert torch.isfinite(t).all()
    torch32 = render_all(g, cams, "torch", mode=mode)
    assert_radii_close(native[0].radii, torch32[0].radii)
    assert_close_to_torch32(native, torch32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_binning_matches_the_scalar_reference_binning(dtype):
    """The optimised CPU binning against the one-thread scalar algorithm the CUDA binning runs
    (cuda/include/splat3d/binning_math.h, a plain stable sort): identical lists, in a dense
    scene of small Gaussians, with several cameras and one partly off-screen, and in the
    edge scene."""
    ext = native_backend.load()
    g = random_scene(3000, 21, 0, dtype=dtype)
    g.log_scales.data -= 1.5
    scenes = [(g, ring_cameras(3, 97, 61, seed=21, dtype=dtype, radius=2.0)),
              (*(t.to(dtype=dtype) for t in edge_scene()),)]
    for g, cams in scenes:
        proj = native_backend.project(g, cams, sh_degree=0, antialiased=True)
        args = (proj.means2d.detach(), proj.conics.detach(), proj.opacities.detach(),
                proj.extents, proj.depths.detach().contiguous(), proj.valid,
                cams.width, cams.height)
        ours = ext.bin_gaussians(*args)
        ref = ext.bin_gaussians_reference(*args)
        assert ref[0].numel() > 0
        for a, b in zip(ours, ref, strict=True):
            assert torch.equal(a, b)


def test_near_plane_argument():
    g, cams = edge_scene64()
    for near in (0.01, 0.3, 2.0):
        assert_same(render_all(g, cams, "native", near=near),
                    render_all(g, cams, "torch", near=near), TOL64, f"near={near}")


def test_falls_back_with_one_warning_without_a_compiler(tmp_path):
    code = ("import warnings, torch\n"
            "from splat3d import Cameras, Gaussians\n"
            "from splat3d.rasterize import rasterize\n"
            "g = Gaussians.random_box(50, extent=0.5)\n"
            "cams = Cameras.from_look_at(torch.tensor([[0., -3., 0.]]), torch.zeros(1, 3), 0.9,"
            " 16, 12)\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    a = rasterize(g, cams, backend='native').rgb\n"
            "    b = rasterize(g, cams, backend='native').rgb\n"
            "msgs = [str(w.message) for w in caught]\n"
            "assert len(msgs) == 1 and '\\n' not in msgs[0], msgs\n"
            "assert torch.equal(a, rasterize(g, cams, backend='torch').rgb)\n"
            "print(msgs[0])\n")
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"),
               XDG_CACHE_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "native rasterizer unavailable" in done.stdout and "torch backend" in done.stdout


_C10_CUDA_STUBS = {
    "CUDAGuard.h": "#pragma once\n#include <c10/core/Device.h>\nnamespace c10::cuda {\n"
                   "struct CUDAGuard { explicit CUDAGuard(c10::Device) {} };\n}\n",
    "CUDAStream.h": "#pragma once\n#include <cuda_runtime.h>\nnamespace c10::cuda {\n"
                    "struct CUDAStream { operator cudaStream_t() const { return nullptr; } };\n"
                    "inline CUDAStream getCurrentCUDAStream() { return {}; }\n}\n",
    "CUDAException.h": "#pragma once\n#define C10_CUDA_KERNEL_LAUNCH_CHECK() do {} while (0)\n",
}
"""The three c10/cuda headers the launch files use, declared just enough to compile them
against this machine's CPU-only torch (which ships no c10/cuda headers)."""


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_cuda_tensor_glue_compiles_with_nvcc(tmp_path):
    """The torch-facing CUDA entry points, and the bindings that call them, compile (a lost
    include or a signature that no longer matches raster_ops.h fails here rather than on a
    GPU machine's first build). The four compilers run at once: each parses the ATen headers."""
    stubs = tmp_path / "stubs" / "c10" / "cuda"
    stubs.mkdir(parents=True)
    for header, text in _C10_CUDA_STUBS.items():
        (stubs / header).write_text(text)
    torch_dir = Path(torch.__file__).parent
    src = native_backend.SOURCE_DIR
    flags = ["-std=c++17", f"-I{tmp_path / 'stubs'}", f"-I{src / 'include'}", f"-I{src}",
             "-isystem", str(torch_dir / "include"),
             "-isystem", str(torch_dir / "include" / "torch" / "csrc" / "api" / "include"),
             "-isystem", sysconfig.get_paths()["include"], "-DTORCH_EXTENSION_NAME=check",
             "-DSPLAT3D_WITH_CUDA", "-gencode=arch=compute_90,code=sm_90"]
    files = [src / "cuda" / "projection_launch.cu", src / "cuda" / "binning_launch.cu",
             src / "cuda" / "composite_launch.cu", src / "bindings.cpp"]
    jobs = [subprocess.Popen(["nvcc", "-c", str(f), "-o", str(tmp_path / f"{f.stem}.o"), *flags],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for f in files]
    for f, job in zip(files, jobs, strict=True):
        out, _ = job.communicate(timeout=600)
        assert job.returncode == 0, f"{f.name}:\n{out}"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
@pytest.mark.parametrize("name", ["projection_cuda.cu", "binning_cuda.cu", "composite_cuda.cu"])
def test_cuda_kernels_compile_with_nvcc(tmp_path, name):
    kernels = native_backend.SOURCE_DIR / "cuda" / name
    cmd = ["nvcc", "-c", str(kernels), "-o", str(tmp_path / "k.o"), "-std=c++17", "-O3",
           f"-I{native_backend.SOURCE_DIR / 'include'}",
           "-gencode=arch=compute_80,code=sm_80"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Path(tmp_path / "k.o").stat().st_size > 0
