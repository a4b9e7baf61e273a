"""The ``splat3d`` command line (tyro subcommands, nerfstudio style).

Each subcommand is a typed function; tyro turns its signature and docstring into flags and
help. The functions only parse, call the library and report: the work lives in the
library modules so it can be scripted the same way.

This module is the composition root of the whole workbench: the only place in ``splat3d/``
that refers to ``detection/``, ``text2d3/`` and ``viewer/``, and only lazily: inside the
command that needs them, or in :func:`main` for the ``dream`` and ``detect`` commands, whose
signatures live in those packages (tyro reads them when it builds the parser). The core
library never depends on them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from splat3d.fileio import write_json
from splat3d.rasterize import Backend, Mode


def train(
    data: Path,
    preset: Literal["default", "fast"] = "default",
    max_steps: int | None = None,
    checkpoint_every: int | None = None,
    data_format: Literal["auto", "blender", "nerfstudio", "colmap", "llff", "scannet"] = "auto",
    downscale: int = 1,
    output: Path = Path("outputs/train"),
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    backend: Backend | None = None,
    viewer: bool = False,
    viewer_port: int = 8080,
) -> None:
    """Reconstruct a scene with 3D Gaussian Splatting and write a run folder.

    Args:
        data: dataset folder (Blender, nerfstudio, COLMAP, LLFF or ScanNet posed images).
        preset: named schedule from ``configs/train.py`` (``fast`` suits CPU runs).
        max_steps: override the preset's number of steps (>= 1).
        checkpoint_every: write a checkpoint every this many steps (default: the preset's);
            one is also written at the end and on Ctrl-C, SIGTERM or SIGHUP.
        data_format: dataset format (``auto`` detects it from the files).
        downscale: integer image downscale factor.
        output: run folder (config, checkpoints, point_cloud.ply, metrics, renders, plots).
        seed: random seed.
        resume: continue from the newest checkpoint in ``output`` (with the settings saved
            there; outputs go to ``output`` even if the run was copied from elsewhere).
        overwrite: start afresh in ``output``, deleting the previous run's outputs there
            (refused for a non-empty folder that is not a splat3d run).
        backend: rasterizer backend (default: the preset's).
        viewer: show the model live in the web viewer while it trains (pause from the GUI).
        viewer_port: port of the live viewer on 127.0.0.1.
    """
    from dataclasses import replace

    from configs.train import TRAIN_PRESETS
    from splat3d.data import load_dataset
    from splat3d.train import train as run_training

    config = TRAIN_PRESETS[preset][1]
    config = replace(config, data=data, data_format=data_format, downscale=downscale,
                     output_dir=output, seed=seed,
                     resume=resume, overwrite=overwrite,
                     max_steps=config.max_steps if max_steps is None else max_steps,
                     checkpoint_every=(config.checkpoint_every if checkpoint_every is None
                                       else checkpoint_every),
                     backend=config.backend if backend is None else backend)
    if max_steps is not None:
        config = replace(config, eval_steps=tuple(s for s in config.eval_steps if s < max_steps))
    dataset = load_dataset(data, format=config.data_format, downscale=downscale)
    monitor = None
    if viewer:
        from splat3d.gaussians import Gaussians
        from viewer import Viewer, ViewerConfig

        monitor = Viewer(Gaussians.empty(config.sh_degree), ViewerConfig(port=viewer_port))
        monitor.set_training_cameras(dataset.cameras, dataset.images, dataset.names)
        print(f"live viewer at {monitor.url}")
    try:
        run_dir = run_training(config, dataset=dataset, monitor=monitor)
    finally:
        if monitor is not None:
            monitor.close()
    print(f"run written to {run_dir}")


def evaluate(run: Path) -> None:
    """Re-evaluate a run's newest checkpoint on its held-out views (PSNR, SSIM); renders and
    scores are written into ``run`` (wherever it was trained).

    Args:
        run: run folder written by ``splat3d train``.
    """
    from splat3d.train import evaluate_run

    result = evaluate_run(run)
    print(f"{run}: step {result['step']}, {result['num_views']} views, "
          f"PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}")


def export(run: Path, format: Literal["ply", "splat", "glb", "obj"] = "ply",
           out: Path | None = None, mesh_resolution: int = 128) -> None:
    """Export a run's Gaussians as a standard 3DGS PLY, a web-viewer ``.splat`` file, or a
    vertex-coloured mesh (GLB / OBJ by marching cubes on the Gaussians' density).

    Args:
        run: run folder written by ``splat3d train`` (or ``splat3d dream``).
        format: ``ply`` (3DGS PLY), ``splat`` (32 bytes per Gaussian), ``glb`` or ``obj`` (mesh).
        out: output file (default: RUN/exports/point_cloud.FORMAT, RUN/exports/mesh.FORMAT).
        mesh_resolution: density-grid cells along the scene's longest side (meshes only).
    """
    from splat3d.train import export_run

    print(f"wrote {export_run(run, format=format, out=out, mesh_resolution=mesh_resolution)}")


def demo(output: Path = Path("outputs/demo"), steps: int = 500, seed: int = 0) -> None:
    """Build a procedural scene, render it from a ring of cameras, reconstruct it from those
    images and report the held-out PSNR (a few minutes on a laptop CPU).

    Args:
        output: run folder.
        steps: training steps.
        seed: seed of the scene and of training.
    """
    from splat3d.demo import run_demo

    result = run_demo(output, steps=steps, seed=seed)
    print(f"demo: test PSNR {result['test_psnr']:.2f} dB, SSIM {result['test_ssim']:.4f} on "
          f"{result['num_test_views']} held-out views, {result['num_gaussians']} Gaussians, "
          f"{result['seconds']:.0f} s; "
          f"results in {result['run_dir']} (view them: splat3d view {result['run_dir']})")


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
        out: output folder; images are named after the frames, kept inside it (a name such as
            ``../x`` or ``/abs/x`` becomes ``x``; clashing names get ``~2``, ``~3``...).
        backend: rasterizer backend.
        width: output width (default: from the cameras; keeps the aspect if only one is given).
        height: output height.
        sh_degree: SH degree to evaluate (default: all the file has).
        mode: 'classic' or 'antialiased' (Mip-Splatting compensation).
        background: RGB background in [0,1].
        save_npy: also write float32 ``NAME.npy`` (RGB), ``NAME_alpha.npy`` and ``NAME_depth.npy``.
        device: torch device to render on (``cpu``, ``cuda``, ``cuda:N``, ``mps``).
    """
    from splat3d.render_frames import render_frames

    render_frames(ply, cameras, out, backend=backend, width=width, height=height,
                  sh_degree=sh_degree, mode=mode, background=background, save_npy=save_npy,
                  device=device)


def info(path: Annotated[Path, tyro.conf.Positional]) -> None:
    """Print a PLY's Gaussian count, SH degree, bounds and opacity/scale statistics."""
    from splat3d.io import describe_gaussians, format_description, load_ply

    print(format_description(describe_gaussians(load_ply(path)), title=str(path)))


def sample(
    prompt: Annotated[str, tyro.conf.Positional],
    out: Path,
    prior: str = "embedded",
    method: str = "dpmpp2m",
    steps: int = 20,
    guidance: float = 7.5,
    seed: int = 0,
    negative: str = "",
    num: int = 1,
    size: int | None = None,
    device: str = "cpu",
) -> None:
    """Sample images for a text prompt with a 2D diffusion prior.

    Args:
        prompt: the text, e.g. "a red cube" (the embedded prior lists its vocabulary on error).
        out: PNG path (with ``--num`` > 1, an index is appended to the name).
        prior: ``embedded``, ``embedded-latent``, ``sd:PATH`` (Stable Diffusion 2.1-base folder)
            or ``if:PATH`` (DeepFloyd IF stage I folder); weights are never downloaded.
        method: ODE solver from ``text2d3.solvers.METHODS``.
        steps: solver steps.
        guidance: classifier-free guidance scale (about 3 suits the embedded priors).
        seed: random seed.
        negative: negative prompt.
        num: number of images.
        size: image side in pixels (default: the prior's native resolution).
        device: torch device.
    """
    from text2d3.priors.cli import sample_image

    sample_image(prompt, out, prior=prior, method=method, steps=steps, guidance=guidance,
                 seed=seed, negative=negative, num=num, size=size, device=device)


def eval_det(
    pred: Path,
    gt: Path,
    dataset: Literal["scannet", "arkitscenes"] = "scannet",
    out: Path | None = None,
) -> None:
    """Evaluate 3D detections: per-class AP and mAP@0.25 / mAP@0.5 (VoteNet / mmdet3d rules).

    Args:
        pred: folder with one prediction JSON per scene.
        gt: ground truth: JSON scene files, ScanNet ``*_bbox.npy`` arrays or ARKitScenes
            ``*_3dod_annotation.json`` files.
        dataset: class list the labels come from.
        out: where to write the metrics JSON (NaN APs are written as null).
    """
    from detection.eval import evaluate_detections, format_results_table

    results = evaluate_detections(pred, gt, dataset=dataset)
    print(format_results_table(results))
    if out is not None:
        write_json(out, results)
        print(f"wrote {out}")


def view(
    path: Annotated[Path, tyro.conf.Positional],
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_remote: bool = False,
    allowed_origins: tuple[str, ...] = (),
    require_token: bool = False,
    mode: Literal["client", "server"] = "client",
    boxes: tuple[Path, ...] = (),
    box_dataset: Literal["scannet", "arkitscenes"] = "scannet",
    min_score: float = 0.0,
) -> None:
    """Open a 3DGS PLY file or a training run folder in the web viewer (Ctrl-C stops it).

    Args:
        path: a .ply file or a splat3d run folder.
        host: interface to listen on; anything but loopback needs --allow-remote.
        port: port to serve on (0: any free port).
        allow_remote: permit a non-loopback host (the scene becomes visible to the network);
            needs --allowed-origins or --require-token.
        allowed_origins: origins (scheme://host[:port]) whose pages may use the viewer,
            besides http://127.0.0.1:PORT, http://localhost:PORT and http://[::1]:PORT.
        require_token: require a random token, printed at start in the viewer's URL.
        mode: 'client' (the browser draws splats) or 'server' (exact splat3d renders).
        boxes: box files to draw: detection predictions or ground truth (JSON scene files),
            ARKitScenes ``*_3dod_annotation.json``, ScanNet ``*_bbox.npy``.
        box_dataset: the dataset whose class names the box labels use.
        min_score: predicted boxes scoring below this are not drawn.
    """
    from viewer.launch import view as run_viewer

    run_viewer(path, host=host, port=port, allow_remote=allow_remote,
               allowed_origins=allowed_origins, require_token=require_token, mode=mode,
               boxes=boxes, box_dataset=box_dataset, min_score=min_score)


def detect_command() -> Callable[..., None]:
    """The ``detect`` command: ``train`` and ``run`` (:mod:`detection.cli`) and ``bench``
    (:mod:`detection.synthetic.cli`) as nested subcommands.

    Each subcommand is a frozen dataclass with a ``run()`` method; tyro needs their types to build
    the parser, so they are imported here, when the command line is parsed, not when this module
    is imported.
    """
    from detection.cli import DetectRun, DetectTrain
    from detection.synthetic.cli import DetectBench

    subcommands = Union[  # noqa: UP007 (tyro reads the Annotated members of a typing.Union)
        Annotated[DetectTrain, tyro.conf.subcommand("train")],
        Annotated[DetectRun, tyro.conf.subcommand("run")],
        Annotated[DetectBench, tyro.conf.subcommand("bench")],
    ]

    def detect(command: subcommands) -> None:
        """3DGS-DET: train the Gaussian detector, run it on a scene, or run the synthetic
        indoor benchmark."""
        command.run()

    detect.__annotations__ = {"command": Annotated[subcommands, tyro.conf.arg(name="")],
                              "return": None}
    return detect


COMMANDS = {
    "demo": demo,
    "train": train,
    "eval": evaluate,
    "export": export,
    "render": render,
    "info": info,
    "view": view,
    "sample": sample,
    "eval-det": eval_det,
}


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``splat3d`` console script.

    Every failure ends in one line on stderr: errors the user can act on (bad files, flags,
    missing folders; ``OSError``, ``ValueError``, ``ImportError``, ``MemoryError``) as
    ``splat3d: error: ...`` with exit status 2, an interruption (Ctrl-C, or SIGTERM/SIGHUP
    during training, which first writes a checkpoint) with status 130, and anything else as
    ``splat3d: internal error: ...`` with status 1 and the full traceback saved to a file
    whose path the line names. Warnings are printed as one line each, without source lines.
    ``SPLAT3D_TRACEBACK=1`` lets every exception propagate instead.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        try:
            from text2d3.dream.cli import dream_command

            commands = {**COMMANDS, "dream": dream_command, "detect": detect_command()}
            tyro.extras.subcommand_cli_from_dict(commands, prog="splat3d", args=args)
        except Exception as err:
            if os.environ.get("SPLAT3D_TRACEBACK"):
                raise
            if isinstance(err, _USER_ERRORS):
                _fail(f"error: {_one_line(err)}", 2)
            path = _save_traceback(err, sys.argv[1:] if args is None else args)
            _fail(f"internal error: {type(err).__name__}: {_one_line(err)} (this is a bug in "
                  f"splat3d; the traceback is in {path})", 1)
        except KeyboardInterrupt as err:
            if os.environ.get("SPLAT3D_TRACEBACK"):
                raise
            _fail(_one_line(err) if str(err) else "interrupted", 130)


_USER_ERRORS = (OSError, ValueError, ImportError, MemoryError)
"""Exceptions that mean bad input or a missing resource, reported without a traceback."""


def _one_line(err: BaseException | str) -> str:
    """``err``'s message with its lines joined (library messages can span several lines)."""
    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def _fail(message: str, status: int) -> None:
    print(f"splat3d: {message}", file=sys.stderr)
    raise SystemExit(status) from None


def _save_traceback(err: BaseException, args: list[str]) -> Path:
    """Write the command line and ``err``'s traceback to a new private file in the temp folder;
    returns its path."""
    fd, path = tempfile.mkstemp(prefix="splat3d-traceback-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"splat3d {' '.join(args)}\n\n")
        traceback.print_exception(type(err), err, err.__traceback__, file=f)
    return Path(path)


def _print_warning(message: Warning | str, *_: object, **__: object) -> None:
    """``warnings.showwarning`` replacement: the message alone, on one line."""
    print(f"splat3d: warning: {_one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    main()
