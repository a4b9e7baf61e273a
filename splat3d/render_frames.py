"""Render the frames of a transforms.json with a Gaussian scene into image files.

Frame names come from the file. The transforms reader already refuses a ``file_path`` that
leaves its folder (``../../x``, ``/etc/x``); every output path still goes through
:mod:`splat3d.safepath`, which keeps names inside ``out``, neutralises device names and
control characters, and renames clashing frames (``x~2``) instead of overwriting one.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from rich.progress import Progress

from splat3d import fileio
from splat3d.cameras import Cameras
from splat3d.device import resolve_device
from splat3d.rasterize import Backend, Mode, rasterize
from splat3d.safepath import child_path, unique_names

MAX_IMAGE_PIXELS = 2**27
"""Largest image rendered (e.g. 16384 x 8192): about 40 bytes per pixel of temporaries make
this some 5 GB; larger sizes are refused before anything is allocated."""


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


def check_background(background: tuple[float, ...]) -> None:
    """Refuse a background that is not three finite values in [0, 1] (NaN would paint every
    pixel NaN, and the PNG would silently read black)."""
    if len(background) != 3 or not all(math.isfinite(v) and 0.0 <= v <= 1.0
                                       for v in background):
        raise ValueError(f"background {tuple(background)}: expected three RGB values in [0, 1]")


def check_image_size(width: int, height: int, source: str) -> None:
    """Refuse images above :data:`MAX_IMAGE_PIXELS` before any buffer is allocated;
    ``source`` says where the size came from (a flag or a file's keys)."""
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{source}: image size {width}x{height} is {width * height:,} pixels; "
                         f"at most {MAX_IMAGE_PIXELS:,} are rendered (choose a smaller "
                         f"--width/--height)")


def output_stems(names: list[str], save_npy: bool) -> list[str]:
    """Each frame's output name: safe, inside the folder, no two frames on one file."""
    suffixes = (".png", ".npy", "_alpha.npy", "_depth.npy") if save_npy else (".png",)
    return unique_names(names, suffixes)


@torch.no_grad()
def render_frames(
    ply: Path, cameras: Path, out: Path, *, backend: Backend = "auto", width: int | None = None,
    height: int | None = None, sh_degree: int | None = None, mode: Mode = "classic",
    background: tuple[float, float, float] = (0.0, 0.0, 0.0), save_npy: bool = False,
    device: torch.device | str = "cpu",
) -> list[Path]:
    """Render each frame of ``cameras`` (transforms.json) to ``out/NAME.png``; returns the paths.

    ``NAME`` is the frame name made safe by :func:`splat3d.safepath.unique_names` (sub-folders
    such as ``test/r_0`` are kept; anything climbing out of ``out`` is not).

    Raises:
        ValueError: for an unusable ``device``, a background outside [0, 1], an image size
            that is not positive or above :data:`MAX_IMAGE_PIXELS`, running out of memory, or
            a symlink inside ``out`` leading out of it; reader errors name the file and field.
    """
    from splat3d.data.transforms_json import read_transforms_cameras
    from splat3d.io import load_ply

    device = resolve_device(str(device))
    check_background(background)
    cams, names = read_transforms_cameras(Path(cameras))
    cams = resolve_size(cams, width, height)
    check_image_size(cams.width, cams.height, f"{cameras} ('w'/'h')" if width is None
                     and height is None else "--width/--height")
    stems = output_stems(names, save_npy)
    pngs = [child_path(out, stem, ".png") for stem in stems]
    renamed = [(n, p) for n, s, p in zip(names, stems, pngs, strict=True) if n != s]
    gaussians = load_ply(ply).to(device)
    cams = cams.to(device)
    bg = torch.tensor(background, dtype=torch.float32, device=device)
    out.mkdir(parents=True, exist_ok=True)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"rendering {len(names)} frames", total=len(names))
        for i, stem in enumerate(stems):
            try:
                r = rasterize(gaussians, cams[i], sh_degree=sh_degree, background=bg,
                              mode=mode, backend=backend)
            except (MemoryError, RuntimeError) as err:
                # torch reports a failed CPU allocation as a plain RuntimeError.
                if not isinstance(err, MemoryError) and "allocate" not in str(err):
                    raise
                raise ValueError(f"rendering {cams.width}x{cams.height} images on {device} ran "
                                 f"out of memory ({err}); choose a smaller --width/--height"
                                 ) from None
            fileio.save_png(pngs[i], r.rgb[0])
            if save_npy:
                fileio.save_npy(child_path(out, stem, ".npy"), r.rgb[0])
                fileio.save_npy(child_path(out, stem, "_alpha.npy"), r.alpha[0])
                fileio.save_npy(child_path(out, stem, "_depth.npy"), r.depth[0])
            progress.advance(task)
    if renamed:
        name, path = renamed[0]
        print(f"note: {len(renamed)} frame name(s) changed to stay inside {out} and apart, "
              f"e.g. {name!r} -> {path}")
    print(f"wrote {len(pngs)} images to {out}")
    return pngs

