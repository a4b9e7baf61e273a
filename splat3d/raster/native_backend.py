"""Native rasterizer backend: the C++ (multi-threaded CPU) and CUDA kernels in ``cuda/``.

Same contract and semantics as :mod:`splat3d.raster.torch_backend`, which it is tested
against (``tests/splat3d/test_native.py``). Projection (EWA, SH colours, forward and
backward), tile binning (exact ellipse-tile overlap) and compositing (forward and backward)
are native on the CPU and, when the extension was built with CUDA, on CUDA tensors. The
projection also writes the colour+depth features the compositor reads and gsplat's integer
radii (:class:`NativeProjection`), so no torch ops run between the kernels. Threads follow
``torch.set_num_threads``; on the CPU every sum is taken in a fixed order, so results are
bit-identical whatever the thread count and the scheduling. The price is memory in the
compositor backward: one gradient row of ``6 + F`` values per (tile, Gaussian) pair that a
pixel visited (before each tile's stopping point), about 2.7 MB at 256²/100k in float32, and
growing with image size times depth complexity.

The extension is compiled on first use with ``torch.utils.cpp_extension.load`` (a C++
compiler and ninja are needed; about a minute) into ``$XDG_CACHE_HOME/splat3d/native/`` (default
``~/.cache``), keyed by torch and Python version and CPU capability, and reused afterwards.
Nothing is compiled, and no environment variable is read, at import time. When the build
is impossible :func:`available` warns once, in one line, and returns ``False`` so callers
fall back to the torch backend.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.gaussians import Gaussians
from splat3d.raster import projection as torch_projection
from splat3d.raster.projection import Projection

SOURCE_DIR = Path(__file__).resolve().parents[2] / "cuda"
"""Native sources (a repository checkout; installed wheels do not ship them)."""
_CPU_SOURCES = ("bindings.cpp", "cpu/projection_cpu.cpp", "cpu/binning_cpu.cpp",
                "cpu/binning_reference_cpu.cpp", "cpu/composite_cpu.cpp")
_CUDA_SOURCES = ("cuda/projection_cuda.cu", "cuda/projection_launch.cu",
                 "cuda/binning_cuda.cu", "cuda/binning_launch.cu",
                 "cuda/composite_cuda.cu", "cuda/composite_launch.cu")


def cache_dir() -> Path:
    """Where compiled extensions are kept (read when called, never at import)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "splat3d" / "native"


def compile_flags(with_cuda: bool) -> list[str]:
    """C++ flags: optimised, OpenMP (the kernels' parallel loops, ``cuda/cpu/parallel.h``),
    and AVX2/FMA, or AVX-512 (the compositor's 16-pixel packs, ``cuda/cpu/simd.h``), when
    the CPU running the build has them (the cache key records the capability)."""
    flags = ["-O3", "-fopenmp", "-DNDEBUG"]
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma"]
    if capability == "AVX512":  # torch reports it for AVX-512 F, BW, VL and DQ together
        flags += ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"]
    if with_cuda:
        flags.append("-DSPLAT3D_WITH_CUDA")
    return flags


def _build_tag(with_cuda: bool) -> str:
    tag = (f"torch{torch.__version__}-py{sys.version_info.major}{sys.version_info.minor}-"
           f"{torch.backends.cpu.get_cpu_capability()}" + ("-cuda" if with_cuda else ""))
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tag)


def build(*, extra_cflags: tuple[str, ...] = (), tag: str = "",
          verbose: bool = False) -> ModuleType:
    """Compile (or reuse the cached build of) the extension and import it.

    ``extra_cflags`` and ``tag`` make variant builds (for example a ThreadSanitizer build in
    its own cache folder). Raises when it cannot be built; see :func:`load`.
    """
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler ({compiler!r} not on PATH)")
    if not (SOURCE_DIR / _CPU_SOURCES[0]).is_file():
        raise RuntimeError(f"native sources not found in {SOURCE_DIR}")
    with_cuda = torch.cuda.is_available() and cpp_extension.CUDA_HOME is not None
    sources = _CPU_SOURCES + (_CUDA_SOURCES if with_cuda else ())
    folder = cache_dir() / (_build_tag(with_cuda) + (f"-{tag}" if tag else ""))
    folder.mkdir(parents=True, exist_ok=True)
    flags = compile_flags(with_cuda) + list(extra_cflags)
    return cpp_extension.load(
        name="splat3d_native" + (f"_{tag}" if tag else ""),
        sources=[str(SOURCE_DIR / s) for s in sources],
        extra_include_paths=[str(SOURCE_DIR / "include")],
        extra_cflags=flags,
        extra_cuda_cflags=["-O3", "--use_fast_math", "-DSPLAT3D_WITH_CUDA"] if with_cuda else None,
        extra_ldflags=["-fopenmp"] + [f for f in extra_cflags if f.startswith("-fsanitize")],
        build_directory=str(folder),
        verbose=verbose,
    )


@functools.cache
def load() -> ModuleType | None:
    """The compiled extension, built on the first call; ``None`` (after one warning) when it
    cannot be built."""
    try:
        return build()
    except Exception as err:  # a missing compiler or ninja, or a failed build
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(f"splat3d: native rasterizer unavailable ({reason[:200]}); "
                      "using the torch backend", RuntimeWarning, stacklevel=3)
        return None


def available(device: torch.device | str = "cpu") -> bool:
    """The native kernels can run on ``device`` (builds the extension on the first call)."""
    ext = load()
    return ext is not None and (torch.device(device).type == "cpu" or ext.has_cuda())


class _NativeProject(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, quats, log_scales, opacity_logits, sh, viewmats, Ks,  # noqa: D102
                options: tuple):
        outs = load().project_forward(means, quats, log_scales, opacity_logits, sh, viewmats, Ks,
                                      *options)
        ctx.mark_non_differentiable(outs[4], outs[5], outs[6])  # extents, valid, radii
        ctx.save_for_backward(means, quats, log_scales, opacity_logits, sh, viewmats, Ks)
        ctx.options = options
        return tuple(outs)

    @staticmethod
    def backward(ctx, g_means2d, g_conics, g_opacities, g_features, _ext, _valid, _radii):  # noqa: D102
        saved = ctx.saved_tensors
        C, N = saved[5].shape[0], saved[0].shape[0]
        like = saved[0].new_zeros
        fd = 4 if ctx.options[4] >= 0 else 1
        grads = load().project_backward(
            *saved, *ctx.options,
            like(C, N, 2) if g_means2d is None else g_means2d.contiguous(),
            like(C, N, 3) if g_conics is None else g_conics.contiguous(),
            like(C, N) if g_opacities is None else g_opacities.contiguous(),
            like(C, N, fd) if g_features is None else g_features.contiguous())
        g_sh = grads[4] if ctx.options[4] >= 0 else None
        return (*grads[:4], g_sh, None, None, None)


@dataclass
class NativeProjection(Projection):
    """A :class:`Projection` from the native kernel, which also computed the colour+depth
    features the compositor takes and gsplat's integer radii. ``colors`` and ``depths``
    are views of ``features``, so gradients reaching any of them add up."""

    features: Tensor | None = None
    """``[C,N,D+1]``: colours then depth, when the colours are the kernel's SH colours."""
    native_radii: Tensor | None = None
    """``[C,N,2]`` int32, equal to :attr:`Projection.radii`."""

    @property
    def radii(self) -> Tensor:  # noqa: D102
        return self.native_radii


def project(
    gaussians: Gaussians,
    cameras: Cameras,
    *,
    sh_degree: int,
    colors: Tensor | None = None,
    antialiased: bool = False,
    near: float = 0.01,
    far: float = 1e10,
) -> Projection:
    """Native :func:`splat3d.raster.projection.project` (same arguments and result).

    The native kernel runs when the cameras need no gradient and the extension supports the
    tensors' device (CPU; CUDA when compiled with it); otherwise (differentiable cameras)
    the PyTorch projection runs.
    """
    cams_grad = cameras.world_to_cam.requires_grad or cameras.K.requires_grad
    if cams_grad or not available(gaussians.device):
        return torch_projection.project(gaussians, cameras, sh_degree=sh_degree, colors=colors,
                                        antialiased=antialiased, near=near, far=far)
    dtype = gaussians.means.dtype
    degree = -1 if colors is not None else sh_degree
    sh = gaussians.sh.contiguous() if colors is None else gaussians.sh.new_empty(0)
    options = (cameras.width, cameras.height, float(near), float(far), degree, antialiased)
    means2d, conics, opacities, features, extents, valid, radii = _NativeProject.apply(
        gaussians.means.contiguous(), gaussians.quats.contiguous(),
        gaussians.log_scales.contiguous(), gaussians.opacity_logits.contiguous(), sh,
        cameras.world_to_cam.to(dtype).contiguous(), cameras.K.to(dtype).contiguous(), options)
    depths = features[..., -1]
    if colors is not None:
        rgb = colors if colors.ndim == 3 else colors[None].expand(len(cameras), -1, -1)
        features = None  # the compositor concatenates the given colours with the depths
        # non-finite colours cull their Gaussian, as the kernel does for SH colours
        valid = valid & torch.isfinite(rgb.detach()).all(-1)
        radii = torch.where(valid[..., None], radii, 0)
    else:
        rgb = features[..., :-1]
    return NativeProjection(means2d, conics, opacities, depths, rgb, extents, valid,
                            features=features, native_radii=radii)


class _NativeComposite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, opacities, features, extents, ids, starts, counts,  # noqa: D102
                width: int, height: int):
        ext = load()
        fsum, trans, last = ext.composite_forward(means2d, conics, opacities, features, extents,
                                                  ids, starts, counts, width, height)
        ctx.save_for_backward(means2d, conics, opacities, features, extents, ids, starts, counts,
                              fsum, trans, last)
        return fsum, trans

    @staticmethod
    def backward(ctx, g_fsum: Tensor | None, g_trans: Tensor | None):  # noqa: D102
        saved = ctx.saved_tensors
        fsum, trans = saved[8], saved[9]
        g_fsum = torch.zeros_like(fsum) if g_fsum is None else g_fsum.contiguous()
        g_trans = torch.zeros_like(trans) if g_trans is None else g_trans.contiguous()
        grads = load().composite_backward(*saved, g_fsum, g_trans)
        return (*grads, None, None, None, None, None, None)


def render_projection(
    proj: Projection, width: int, height: int, background: Tensor
) -> tuple[Tensor, Tensor]:
    """Composite projected Gaussians natively; same contract as
    :func:`splat3d.raster.torch_backend.render_projection`.

    Returns ``features [C,H,W,D+1]`` (background added to the first D channels, the last
    channel is the alpha-weighted depth sum) and ``alpha [C,H,W,1]``.
    """
    ext = load()
    if ext is None:
        raise RuntimeError("splat3d native backend: the extension could not be built; "
                           "check available() before choosing this backend")
    means2d = proj.means2d.contiguous()
    conics = proj.conics.contiguous()
    opacities = proj.opacities.contiguous()
    extents = proj.extents.detach().contiguous()
    features = getattr(proj, "features", None)  # [C,N,D+1], colours then depth
    if features is None:
        features = torch.cat([proj.colors, proj.depths[..., None]], -1)
    features = features.contiguous()
    ids, starts, counts = ext.bin_gaussians(means2d.detach(), conics.detach(), opacities.detach(),
                                            extents, proj.depths.detach().contiguous(),
                                            proj.valid.contiguous(), width, height)
    fsum, trans = _NativeComposite.apply(means2d, conics, opacities, features, extents, ids,
                                         starts, counts, width, height)
    C, D = background.shape
    bg = torch.cat([background, background.new_zeros(C, 1)], -1)  # no background for depth
    img = torch.addcmul(fsum, trans[..., None], bg[:, None, None])
    return img, 1.0 - trans[..., None]
