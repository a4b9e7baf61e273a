"""The ``splat3d`` command line (tyro subcommands, nerfstudio style).

Each subcommand is a typed function; tyro turns its signature and docstring into flags and
help. The functions only parse, call the library and report: the work lives in the
library modules so it can be scripted the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import tyro

from splat3d.rasterize import Backend, Mode


def render(
    ply: Path,
    cameras: Path,
    out: Path,
    backend: Backend = "auto",
    width: int | None = None,
    height: int | None = None,
    sh_degree: int | None = None,
    mode: Mode = "classic",
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    save_npy: bool = False,
    device: str = "cpu",
) -> None:
    """Render every frame of a nerfstudio/Blender transforms.json to 8-bit PNGs.

    Args:
        ply: 3DGS PLY file to render.
        cameras: transforms.json with 4x4 OpenGL camera-to-world ``transform_matrix`` per frame.
        out: output folder; images are named after the frames.
        backend: rasterizer backend.
        width: output width (default: from the cameras; keeps the aspect if only one is given).
        height: output height.
        sh_degree: SH degree to evaluate (default: all the file has).
        mode: 'classic' or 'antialiased' (Mip-Splatting compensation).
        background: RGB background in [0,1].
        save_npy: also write float32 ``NAME.npy`` (RGB), ``NAME_alpha.npy`` and ``NAME_depth.npy``.
        device: torch device to render on.
    """
    from splat3d.render_frames import render_frames

    render_frames(ply, cameras, out, backend=backend, width=width, height=height,
                  sh_degree=sh_degree, mode=mode, background=background, save_npy=save_npy,
                  device=device)


def info(path: Annotated[Path, tyro.conf.Positional]) -> None:
    """Print a PLY's Gaussian count, SH degree, bounds and opacity/scale statistics."""
    from splat3d.io import describe_gaussians, format_description, load_ply

    print(format_description(describe_gaussians(load_ply(path)), title=str(path)))


COMMANDS = {
    "render": render,
    "info": info,
}


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``splat3d`` console script."""
    try:
        tyro.extras.subcommand_cli_from_dict(COMMANDS, prog="splat3d", args=args)
    except (FileNotFoundError, ValueError, ImportError) as err:
        if os.environ.get("SPLAT3D_TRACEBACK"):
            raise
        print(f"splat3d: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
