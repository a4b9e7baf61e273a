"""The ``splat3d sample`` command: text to image with any prior and solver.

Wired into ``splat3d/cli.py`` by a thin wrapper; kept here so the CLI owns no diffusion code.

Example:
    >>> sample_image("a red cube", Path("/tmp/red_cube.png"), steps=10)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from splat3d.device import resolve_device
from splat3d.fileio import atomic_path
from splat3d.safepath import child_path
from text2d3.priors.base import generate
from text2d3.priors.load import load_prior

MAX_SIZE = 8192
"""Largest ``--size`` (an 8192 x 8192 RGB image is 192 MB); larger is refused up front."""


def output_paths(out: Path, num: int) -> list[Path]:
    """``out`` itself for one image, else ``STEM_0.SUFFIX``, ``STEM_1.SUFFIX``... beside it,
    each checked to stay in ``out``'s folder (:func:`splat3d.safepath.child_path`).

    Raises:
        ValueError: for a ``num`` below 1, an ``out`` without a file name, or a suffix that
            is not an image format PIL writes.
    """
    if num < 1:
        raise ValueError(f"--num {num}: expected at least 1 image")
    if not out.name or out.is_dir():
        raise ValueError(f"--out {out}: expected an image file path such as {out / 'img.png'}")
    if out.suffix.lower() not in Image.registered_extensions():
        raise ValueError(f"--out {out}: unknown image suffix {out.suffix!r}; use e.g. .png")
    if num == 1:
        return [out]
    return [child_path(out.parent, f"{out.stem}_{i}", out.suffix) for i in range(num)]


def sample_image(
    prompt: str,
    out: Path,
    *,
    prior: str = "embedded",
    method: str = "dpmpp2m",
    steps: int = 20,
    guidance: float = 7.5,
    seed: int = 0,
    negative: str = "",
    num: int = 1,
    size: int | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Sample ``num`` images for ``prompt`` and write them as PNGs.

    Args:
        prompt: the text, e.g. ``"a red cube"`` (the embedded priors accept the vocabulary of
            :mod:`text2d3.procedural`).
        out: PNG path; with ``num > 1`` the index is appended (``img_0.png``, ...).
        prior: ``embedded``, ``embedded-latent``, ``sd:PATH`` or ``if:PATH``.
        method: ODE solver, a key of :data:`text2d3.solvers.METHODS`.
        steps: solver steps.
        guidance: classifier-free guidance scale (1 = none).
        seed: seed of the starting noise.
        negative: negative prompt (empty = unconditional).
        num: number of images (one batch whose starting noise is drawn from ``seed``).
        size: upscale the saved image to ``size`` x ``size`` (nearest), e.g. to view 32 x 32
            samples; default native resolution.
        device: torch device.

    Returns:
        The written paths (each written atomically).

    Raises:
        ValueError: before any model is loaded, for ``num`` < 1, an ``out`` that is a folder
            or has no image suffix, ``size`` outside 1..:data:`MAX_SIZE`, or a non-finite
            ``guidance``.
    """
    resolve_device(device)
    paths = output_paths(Path(out), num)
    if size is not None and not 1 <= size <= MAX_SIZE:
        raise ValueError(f"--size {size}: expected 1 to {MAX_SIZE} pixels")
    if not math.isfinite(guidance):
        raise ValueError(f"--guidance {guidance}: expected a finite scale")
    model = load_prior(prior, device=device,
                       dtype=torch.float16 if device.startswith("cuda") else torch.float32)
    images = generate(model, [prompt] * num, steps=steps, method=method, guidance=guidance,
                      seed=seed, negative=[negative] * num)
    image_format = Image.registered_extensions()[paths[0].suffix.lower()]
    for image, path in zip(images, paths, strict=True):
        pil = Image.fromarray((image.cpu().numpy() * 255).round().astype(np.uint8))
        if size is not None:
            pil = pil.resize((size, size), Image.NEAREST)
        with atomic_path(path) as tmp:
            pil.save(tmp, format=image_format)
        print(f"wrote {path}")
    return paths
