"""The run folder: creating or resuming it, its final outputs, and the functions the CLI calls
on a finished run (:func:`evaluate_run`, :func:`export_run`).

Layout::

    RUN/config.json            resolved TrainConfig
    RUN/checkpoints/step_*.pt  newest checkpoints (see splat3d.train.checkpoint)
    RUN/point_cloud.ply        final Gaussians, standard 3DGS PLY
    RUN/metrics.json           held-out PSNR/SSIM per evaluation step, training curve, timing
    RUN/test/renders/*.png     final renders of the evaluation split
    RUN/test/comparisons/*.png ground truth | render | error
    RUN/training_curves.png    loss and PSNR versus step (needs matplotlib)
    RUN/evaluation.json        scores of ``splat3d eval`` (:func:`evaluate_run`)
    RUN/exports/               files of ``splat3d export`` (:func:`export_run`)

A run folder is addressed by where it is now, never by the ``output_dir`` recorded in its
``config.json``: a copied or moved run writes into the copy.
"""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path
from typing import Any, Literal

import torch

from splat3d.fileio import read_json, remove_temp_files, write_json
from splat3d.gaussians import Gaussians
from splat3d.train import checkpoint as ckpt
from splat3d.train.config import TrainConfig, config_from_dict, config_to_dict
from splat3d.train.faults import NonFiniteError, non_finite_params
from splat3d.train.outputs import plot_training_curves
from splat3d.train.params import PARAM_NAMES, gaussians_from_params
from splat3d.train.scene import SceneData

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
PLY_FILE = "point_cloud.ply"
EVALUATION_FILE = "evaluation.json"
CURVES_FILE = "training_curves.png"
RUN_OUTPUTS = (CONFIG_FILE, METRICS_FILE, PLY_FILE, EVALUATION_FILE, CURVES_FILE,
               "checkpoints", "test", "exports")
"""Everything a run and its ``eval`` / ``export`` write at the top of the run folder; a
fresh run with ``overwrite`` removes all of it."""
_SESSION_FIELDS = {"resume", "overwrite", "progress", "output_dir", "checkpoint_every"}
"""Config fields that may differ between a run and its resumption without changing its result
(the folder may have been copied or moved)."""


def prepare(config: TrainConfig) -> TrainConfig:
    """Create (or reopen, for ``resume``) the run folder; returns the config to train with.

    On resume the saved config is authoritative (an exact continuation needs the same
    settings) except for the folder, which is ``config.output_dir`` (the run may have been
    copied); differing fields are reported in a one-line warning. Temporary
    files left by a killed process are removed. A fresh run with ``overwrite`` first deletes
    every output of the previous run (:data:`RUN_OUTPUTS`), so nothing stale is shown later.

    Raises:
        FileExistsError: a fresh run into a non-empty folder without ``overwrite``, or with
            ``overwrite`` into a non-empty folder that is not a run (no ``config.json``).
        FileNotFoundError: ``resume`` where there is no run or no checkpoint.
    """
    out = Path(config.output_dir)
    if config.resume:
        saved_path = out / CONFIG_FILE
        if not saved_path.is_file():
            raise FileNotFoundError(f"resume: {saved_path} does not exist; is {out} a run folder?")
        ckpt.latest_checkpoint(out)
        saved = load_config(out)
        old, new = config_to_dict(saved), config_to_dict(config)
        diff = [k for k in new if k not in _SESSION_FIELDS and old[k] != new[k]]
        if diff:
            warnings.warn(f"resume: using the saved settings of {out}; ignoring the new values "
                          f"of {', '.join(diff)}", stacklevel=3)
        remove_temp_files(out)
        return dataclasses.replace(saved, resume=True, progress=config.progress,
                                   checkpoint_every=config.checkpoint_every)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output_dir {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not config.overwrite:
            raise FileExistsError(f"output_dir {out} is not empty; pass --overwrite "
                                  f"(overwrite=True) to start a new run there or --resume "
                                  f"(resume=True) to continue it")
        if not (out / CONFIG_FILE).is_file():
            raise FileExistsError(f"output_dir {out} is not empty and has no {CONFIG_FILE}, so "
                                  f"it is not a splat3d run; refusing to overwrite it (choose a "
                                  f"new or empty folder)")
        clear_run_outputs(out)
    write_json(out / CONFIG_FILE, config_to_dict(config))
    return config


def clear_run_outputs(run_dir: Path) -> None:
    """Delete what a previous run wrote in ``run_dir`` (:data:`RUN_OUTPUTS` and temporary
    files); other files are left alone."""
    out = Path(run_dir)
    for name in RUN_OUTPUTS:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    remove_temp_files(out)


def load_config(run_dir: Path) -> TrainConfig:
    """The resolved config saved in ``run_dir``, with ``output_dir`` set to ``run_dir``
    (where the run is now, not where it was trained).

    Raises:
        FileNotFoundError: if there is no ``config.json``; ValueError: if it is not a config.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {run_dir} a splat3d training run?")
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of config fields, found a "
                         f"{type(data).__name__}")
    try:
        config = config_from_dict(TrainConfig, data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None
    return dataclasses.replace(config, output_dir=Path(run_dir))


def load_data(config: TrainConfig) -> SceneData:
    """Read ``config.data`` with the dataset layer.

    Raises:
        ValueError: when the run was trained on an in-memory dataset (``data`` unset).
    """
    if config.data is None:
        raise ValueError("config.data is not set: pass a dataset folder (runs trained on an "
                         "in-memory dataset cannot be reloaded from disk)")
    from splat3d.data import load_dataset

    return load_dataset(config.data, format=config.data_format, downscale=config.downscale)


def final_sh_degree(config: TrainConfig) -> int:
    """The SH degree active at the last step."""
    return min((config.max_steps - 1) // max(config.sh_degree_interval, 1), config.sh_degree)


def test_dir(config: TrainConfig) -> Path:
    return Path(config.output_dir) / "test"


def finish(config: TrainConfig, params: torch.nn.ParameterDict,
           history: list[dict[str, float]], evals: dict[int, dict[str, Any]],
           elapsed: float) -> None:
    """Write the point cloud, ``metrics.json`` and the training-curve plot."""
    out = Path(config.output_dir)
    gaussians = gaussians_from_params(params).detach().to("cpu")
    _save_gaussians(out / PLY_FILE, gaussians, "ply")
    final = evals.get(config.max_steps, {})
    write_json(out / METRICS_FILE, {
        "steps": config.max_steps,
        "num_gaussians": len(gaussians),
        "train_seconds": elapsed,
        "final": final,
        "evals": {str(k): v for k, v in sorted(evals.items())},
        "history": history,
    })
    plot_training_curves(out / CURVES_FILE, history, evals)


def load_run_gaussians(run_dir: Path) -> Gaussians:
    """The Gaussians of the newest readable checkpoint of ``run_dir``."""
    return _checkpoint_gaussians(*ckpt.load_latest(Path(run_dir)))


def _checkpoint_gaussians(path: Path, payload: dict[str, Any]) -> Gaussians:
    params = payload["params"]
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"{path}: parameters {missing} are missing; found {sorted(params)}")
    try:
        return gaussians_from_params(params).detach()
    except ValueError as err:  # shapes that do not make Gaussians
        raise ValueError(f"{path}: {err}") from None


def evaluate_run(run_dir: Path) -> dict[str, Any]:
    """Re-score a run's newest checkpoint on its evaluation split (data reloaded from disk);
    renders and comparisons go to ``RUN/test``, the scores to ``RUN/evaluation.json``.

    Returns ``{"psnr", "ssim", "num_views", "views", "step"}``.
    """
    from splat3d.train.evaluate import evaluate_views

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    path, payload = ckpt.load_latest(run_dir)  # the cheaper failures first
    gaussians = _checkpoint_gaussians(path, payload)
    bad = non_finite_params(gaussians.tensors())
    if bad is not None:
        raise NonFiniteError(f"{path}: nothing to evaluate: {bad}")
    data = load_data(config)
    gaussians = gaussians.to(config.device)
    result = evaluate_views(gaussians, data, config, final_sh_degree(config), test_dir(config))
    result["step"] = payload["step"]
    write_json(run_dir / EVALUATION_FILE, result)
    return result


ExportFormat = Literal["ply", "splat", "glb", "obj"]
EXPORT_FORMATS: tuple[str, ...] = ("ply", "splat", "glb", "obj")


def export_run(run_dir: Path, format: ExportFormat = "ply", out: Path | None = None,
               mesh_resolution: int = 128) -> Path:
    """Write a run's newest Gaussians as a 3DGS PLY, an antimatter15 ``.splat`` file, or a
    vertex-coloured mesh (``glb`` / ``obj``, marching cubes on the opacity-weighted density of
    :mod:`splat3d.mesh` on a ``mesh_resolution`` grid along the longest side).

    ``out`` defaults to ``RUN/exports/point_cloud.<format>`` (``mesh.<format>`` for meshes);
    returns the written path.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"export_run: format must be one of {EXPORT_FORMATS}, got {format!r}")
    run_dir = Path(run_dir)
    stem = "mesh" if format in ("glb", "obj") else "point_cloud"
    path = Path(out) if out is not None else run_dir / "exports" / f"{stem}.{format}"
    gaussians = load_run_gaussians(run_dir)
    if stem == "mesh":
        from splat3d.mesh import MeshConfig, export_mesh

        if path.suffix.lower() != f".{format}":
            raise ValueError(f"export_run: {path} does not end in .{format}")
        _require_finite(gaussians, path)
        export_mesh(gaussians, path, MeshConfig(resolution=mesh_resolution))
    else:
        _save_gaussians(path, gaussians, format)
    return path


def _require_finite(gaussians: Gaussians, path: Path) -> None:
    """Refuse to publish a model with NaN or infinite values, saying how many Gaussians and
    which parameter groups (the writers name only the first bad one)."""
    bad = non_finite_params(gaussians.tensors())
    if bad is not None:
        raise NonFiniteError(f"{path}: refusing to write a model in which {bad}")


def _save_gaussians(path: Path, gaussians: Gaussians, format: str) -> None:
    from splat3d.io import save_ply, save_splat

    _require_finite(gaussians, path)
    writer = save_ply if format == "ply" else save_splat
    writer(path, gaussians)  # atomic itself
