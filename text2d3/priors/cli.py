"""The ``splat3d sample`` command: text to image with any prior and solver.

Wired into ``splat3d/cli.py`` by a thin wrapper; kept here so the CLI owns no diffusion code.

Example:
    >>> sample_image("a red cube", Path("/tmp/red_cube.png"), steps=10)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from text2d3.priors.base import generate
from text2d3.priors.load import load_prior


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
        The written paths.
    """
    model = load_prior(prior, device=device,
                       dtype=torch.float16 if device.startswith("cuda") else torch.float32)
    images = generate(model, [prompt] * num, steps=steps, method=method, guidance=guidance,
                      seed=seed, negative=[negative] * num)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out] if num == 1 else [out.with_name(f"{out.stem}_{i}{out.suffix}")
                                    for i in range(num)]
    for image, path in zip(images, paths, strict=True):
        pil = Image.fromarray((image.cpu().numpy() * 255).round().astype(np.uint8))
        if size is not None:
            pil = pil.resize((size, size), Image.NEAREST)
        pil.save(path)
        print(f"wrote {path}")
    return paths
