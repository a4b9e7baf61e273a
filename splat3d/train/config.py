"""Configuration of a per-scene 3DGS reconstruction, as nested dataclasses (tyro-ready).

Defaults are those of 3D Gaussian Splatting (Kerbl et al., 2023) as packaged by gsplat's
``simple_trainer``; named presets live in ``configs/train.py``. A resolved config is saved as
``config.json`` in every run folder and read back by :func:`config_from_dict`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from splat3d.rasterize import Backend, Mode
from splat3d.strategy import DefaultStrategy


@dataclass
class LearningRates:
    """Adam learning rates per parameter group (3DGS defaults)."""

    means: float = 1.6e-4
    """Initial rate for the centres, multiplied by the scene scale."""
    means_final_factor: float = 0.01
    """The means rate decays exponentially to this fraction of itself at ``max_steps``."""
    log_scales: float = 5e-3
    """Rate for the log standard deviations."""
    quats: float = 1e-3
    """Rate for the rotation quaternions."""
    opacity_logits: float = 5e-2
    """Rate for the opacity logits."""
    sh0: float = 2.5e-3
    """Rate for the DC (view-independent) colour coefficients."""
    shN: float = 2.5e-3 / 20
    """Rate for the higher-order SH coefficients."""


@dataclass
class InitConfig:
    """How the Gaussians are initialised."""

    kind: Literal["auto", "points", "random"] = "auto"
    """``points``: the dataset's seed points (SfM); ``random``: uniform in a box; ``auto``:
    points when the dataset has them, random otherwise."""
    num_random: int = 100_000
    """Number of Gaussians for random initialisation."""
    random_extent: float = 3.0
    """Half-size of the random-init box around the scene centre, in scene scales."""
    opacity: float = 0.1
    """Initial opacity of every Gaussian."""
    scale_factor: float = 1.0
    """Initial scales are this times the mean distance to the 3 nearest neighbours."""


@dataclass
class TrainConfig:
    """A per-scene optimisation run: data, model, loss, schedule and outputs."""

    data: Path | None = None
    """Dataset folder (read by ``splat3d.data.load_dataset``); None when passed in memory."""
    data_format: str = "auto"
    """Dataset format for ``load_dataset`` (``auto`` detects it)."""
    downscale: int = 1
    """Image downscale factor applied when loading."""
    output_dir: Path = Path("outputs/train")
    """Run folder: config, checkpoints, point cloud, metrics, renders, plots."""
    overwrite: bool = False
    """Allow starting a fresh run in a non-empty ``output_dir`` (its old files are replaced)."""
    resume: bool = False
    """Continue from the newest checkpoint in ``output_dir``."""
    seed: int = 0
    """Seed for initialisation, view order, backgrounds and splitting."""
    max_steps: int = 30_000
    """Number of optimisation steps (one image per step)."""
    sh_degree: int = 3
    """Final SH degree."""
    sh_degree_interval: int = 1000
    """Raise the active SH degree by one every this many steps."""
    ssim_lambda: float = 0.2
    """Loss = (1 - lambda) L1 + lambda (1 - SSIM)."""
    random_background: bool = False
    """Composite each training view on a random colour (needs dataset alpha); otherwise the
    dataset's background is used."""
    alpha_loss_weight: float = 0.0
    """Weight of an L1 loss between rendered and ground-truth alpha (mask supervision)."""
    eval_split: str = "test"
    """Dataset split evaluated during and after training."""
    eval_steps: tuple[int, ...] = (7_000, 30_000)
    """Steps at which held-out views are evaluated (the final step always is)."""
    checkpoint_every: int = 5_000
    """Write a checkpoint every this many steps (and at the end and on Ctrl-C)."""
    mode: Mode = "classic"
    """Rasterization mode."""
    backend: Backend = "auto"
    """Rasterizer backend."""
    device: str = "cpu"
    """Torch device."""
    threads: int | None = None
    """CPU threads for torch during training (None: leave torch's setting). On a machine
    shared with other jobs, 1 is often several times faster than oversubscribed threads."""
    progress: bool = True
    """Show a progress bar."""
    lr: LearningRates = field(default_factory=LearningRates)
    """Learning rates."""
    init: InitConfig = field(default_factory=InitConfig)
    """Initialisation."""
    strategy: DefaultStrategy = field(default_factory=DefaultStrategy)
    """Densification policy (3DGS adaptive density control)."""

    def __post_init__(self) -> None:
        for name, flag in (("max_steps", "--max-steps"), ("checkpoint_every",
                                                           "--checkpoint-every")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({flag}) must be a whole number of steps >= 1; "
                                 f"got {value!r}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass; paths become strings."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v
    return plain(config)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass of type ``cls`` from :func:`config_to_dict` output.

    The data may come from someone else's run folder, so every scalar field is checked
    against its annotation (numbers, booleans, strings, the choices of a ``Literal``) before
    the dataclass is built.

    Raises:
        ValueError: for a key that is not a field of ``cls``, or a value of the wrong type,
            naming the field.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object of fields, found "
                         f"{type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config fields {unknown}")
    return cls(**{k: _coerce(hints[k], v, k) for k, v in data.items()})


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(inner[0], value, name) if len(inner) == 1 else value
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"field {name!r} is {value!r}; expected one of "
                             f"{list(typing.get_args(hint))}")
        return value
    if hint is Path or hint is str:
        if not isinstance(value, str):
            raise ValueError(f"field {name!r} is {value!r}; expected a string")
        return Path(value) if hint is Path else value
    if hint is bool or hint is int:
        if not isinstance(value, int) or isinstance(value, bool) != (hint is bool):
            raise ValueError(f"field {name!r} is {value!r}; expected {hint.__name__}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"field {name!r} is {value!r}; expected a number")
        return float(value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"field {name!r} is {value!r}; expected a list")
        return tuple(value)
    return value
