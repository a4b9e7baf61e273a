"""Render the frames of a transforms.json with a Gaussian scene into image files."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import Progress

from splat3d import fileio
from splat3d.cameras import Cameras
from splat3d.rasterize import Backend, Mode, rasterize


def resolve_size(cams: Cameras, width: int | None, height: int | None) -> Cameras:
    """Cameras resized to ``width`` x ``height``; a missing one keeps the aspect ratio."""
    if width is None and height is None:
        return cams
    if width is None:
        width = max(1, round(cams.width * height / cams.height))
    if height is None:
        height = max(1, round(cams.height * width / cams.width))
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return cams.resized(width, height)


@torch.no_grad()
def render_frames(
    ply: Path, cameras: Path, out: Path, *, backend: Backend = "auto", width: int | None = None,
    height: int | None = None, sh_degree: int | None = None, mode: Mode = "classic",
    background: tuple[float, float, float] = (0.0, 0.0, 0.0), save_npy: bool = False,
    device: torch.device | str = "cpu",
) -> list[Path]:
    """Render each frame of ``cameras`` (transforms.json) to ``out/NAME.png``; returns the paths."""
    from splat3d.data.transforms_json import read_transforms_cameras
    from splat3d.io import load_ply

    device = torch.device(device)
    gaussians = load_ply(ply).to(device)
    cams, names = read_transforms_cameras(Path(cameras))
    cams = resolve_size(cams, width, height).to(device)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{cameras}: frame names are not unique ({dup[:5]}); cannot name outputs")
    bg = torch.tensor(background, dtype=torch.float32, device=device)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"rendering {len(names)} frames", total=len(names))
        for i, name in enumerate(names):
            r = rasterize(gaussians, cams[i], sh_degree=sh_degree, background=bg, mode=mode,
                          backend=backend)
            fileio.save_png(out / f"{name}.png", r.rgb[0])
            if save_npy:
                fileio.save_npy(out / f"{name}.npy", r.rgb[0])
                fileio.save_npy(out / f"{name}_alpha.npy", r.alpha[0])
                fileio.save_npy(out / f"{name}_depth.npy", r.depth[0])
            written.append(out / f"{name}.png")
            progress.advance(task)
    print(f"wrote {len(written)} images to {out}")
    return written

