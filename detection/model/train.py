"""Training the Gaussian detector: AdamW, warm-up + cosine schedule, checkpoints, resume, log.

One scene per step (grids differ in shape between scenes), augmented on the fly
(:func:`~detection.model.data.augment_scene`); scenes are visited in a fresh random order
each epoch. Everything random draws from one generator seeded by ``seed`` (and the weights
from ``torch.manual_seed(seed)``), and its state is checkpointed, so a resumed run continues
the same sequence as an uninterrupted one.

Output folder (when given)::

    checkpoint.pt      model + optimizer + generator state, every ``checkpoint_every`` epochs
    train_log.json     per-epoch mean losses, learning rate, seconds
    detector.pt        the final detector (:func:`~detection.model.detector.load_detector`)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from detection.model.data import AugmentConfig, DetectionScene, augment_scene
from detection.model.detector import DetectorConfig, GaussianDetector
from splat3d.fileio import atomic_path, read_json, write_json
from splat3d.tensorfile import load_tensor_file

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.json"
DETECTOR_NAME = "detector.pt"


@dataclass(frozen=True)
class DetectorTrainConfig:
    """How :func:`train_detector` trains; the defaults fit ~20 indoor rooms on 2 CPU cores in
    about ten minutes."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    """The architecture and decoding settings."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Training-time augmentation."""
    epochs: int = 40
    """Passes over the training scenes."""
    batch_size: int = 2
    """Scenes per optimiser step (batched through the backbone; two or more also select
    oneDNN's much faster CPU convolution)."""
    lr: float = 1e-2
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 20
    """Steps of linear learning-rate warm-up before the cosine decay."""
    grad_clip: float = 10.0
    """Gradient-norm clipping threshold."""
    seed: int = 0
    """Seeds the weights, the scene order and the augmentation."""
    checkpoint_every: int = 10
    """Write ``checkpoint.pt`` every this many epochs (and after the last)."""
    device: str = "cpu"
    """Torch device to train on."""


@dataclass(frozen=True)
class WarmupCosine:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then a cosine from 1 to
    ``floor`` at ``total`` steps (Loshchilov & Hutter, 2017, SGDR, without restarts)."""

    total: int
    warmup: int
    floor: float = 0.01

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_detector(
    scenes: Sequence[DetectionScene],
    classes: tuple[str, ...],
    config: DetectorTrainConfig = DetectorTrainConfig(),
    output: str | Path | None = None,
    progress: bool = True,
) -> GaussianDetector:
    """Train a :class:`GaussianDetector` on ``scenes`` (labels index ``classes``).

    With ``output``, checkpoints and the log are written there and a run whose
    ``checkpoint.pt`` exists resumes from it (its config must match).

    Raises:
        ValueError: for no scenes, or a checkpoint written with another config.
    """
    if not scenes:
        raise ValueError("train_detector needs at least one scene")
    output = Path(output) if output is not None else None
    torch.manual_seed(config.seed)
    detector = GaussianDetector(config.detector, classes).to(config.device)
    optimizer = torch.optim.AdamW(
        detector.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(scenes) / config.batch_size)
    schedule = WarmupCosine(config.epochs * steps_per_epoch, config.warmup_steps)
    generator = torch.Generator().manual_seed(config.seed)
    log: list[dict] = []
    start_epoch = 0
    if output is not None and (output / CHECKPOINT_NAME).is_file():
        start_epoch, log = _resume(output / CHECKPOINT_NAME, config, classes, detector,
                                   optimizer, generator)

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"
                   "/{task.total}"), TimeRemainingColumn(), disable=not progress)
    with bar:
        task = bar.add_task("detector", total=config.epochs * steps_per_epoch,
                            completed=start_epoch * steps_per_epoch)
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            order = torch.randperm(len(scenes), generator=generator).tolist()
            for j in range(steps_per_epoch):
                lr = config.lr * schedule(epoch * steps_per_epoch + j)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = []
                for i in order[j * config.batch_size : (j + 1) * config.batch_size]:
                    scene = augment_scene(scenes[i], config.augment, generator)
                    batch.append((
                        scene.gaussians.to(config.device),
                        torch.from_numpy(scene.boxes.params).float().to(config.device),
                        torch.from_numpy(scene.boxes.labels).to(config.device),
                    ))
                losses = detector.loss(batch)
                optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(detector.parameters(), config.grad_clip)
                optimizer.step()
                values = {k: float(v.detach()) for k, v in losses.items()}
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(task, advance=1,
                           description=f"epoch {epoch + 1} loss {values['total']:.3f}")
            entry = {k: v / steps_per_epoch for k, v in sums.items()}
            entry.update(epoch=epoch + 1, lr=optimizer.param_groups[0]["lr"],
                         seconds=time.perf_counter() - t0)
            log.append(entry)
            last = epoch + 1 == config.epochs
            if output is not None and ((epoch + 1) % config.checkpoint_every == 0 or last):
                _checkpoint(output, epoch + 1, config, classes, detector, optimizer,
                            generator, log)
    if output is not None:
        detector.save(output / DETECTOR_NAME)
    return detector


def _checkpoint(
    output: Path, epoch: int, config: DetectorTrainConfig, classes: tuple[str, ...],
    detector: GaussianDetector, optimizer: torch.optim.Optimizer, generator: torch.Generator,
    log: list[dict],
) -> None:
    state = {
        "epoch": epoch,
        "config": dataclasses.asdict(config),
        "classes": list(classes),
        "model": detector.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
    }
    with atomic_path(output / CHECKPOINT_NAME) as tmp:
        torch.save(state, tmp)
    write_json(output / LOG_NAME, {"config": dataclasses.asdict(config), "epochs": log})


def _resume(
    path: Path, config: DetectorTrainConfig, classes: tuple[str, ...],
    detector: GaussianDetector, optimizer: torch.optim.Optimizer, generator: torch.Generator,
) -> tuple[int, list[dict]]:
    state = load_tensor_file(path, "detector checkpoint", config.device)
    try:
        saved_config, saved_classes = state["config"], tuple(state["classes"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a detector checkpoint (no {err})") from None
    same_config = _plain(saved_config) == _plain(dataclasses.asdict(config))
    if not same_config or saved_classes != tuple(classes):
        raise ValueError(
            f"{path}: checkpoint was written with another config or class list; use a new "
            "output folder or delete the checkpoint"
        )
    try:
        detector.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        epoch = int(state["epoch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: malformed detector checkpoint ({type(err).__name__}: "
                         f"{err})") from None
    log_path = path.parent / LOG_NAME
    log = read_json(log_path) if log_path.is_file() else {"epochs": []}
    if not isinstance(log, dict) or not isinstance(log.get("epochs"), list):
        raise ValueError(f"{log_path}: expected an object with an 'epochs' list")
    return epoch, log["epochs"][:epoch]


def _plain(value: object) -> object:
    """Tuples -> lists, as a config dict looks after a save / load round trip."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
