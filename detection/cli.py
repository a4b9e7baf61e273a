"""``splat3d detect train`` / ``splat3d detect run``: the Gaussian detector from the command line.

The coordinator wires :class:`DetectTrain` and :class:`DetectRun` into ``splat3d/cli.py`` as
tyro subcommands; each is a frozen dataclass whose ``run()`` does the work, raising
``OSError`` / ``ValueError`` with a one-line message for bad input.

Example:
    >>> DetectTrain(data=Path("rooms"), output=Path("det")).run()  # doctest: +SKIP
    >>> DetectRun(scene=Path("runs/room_010"), detector=Path("det/detector.pt"),
    ...           out=Path("pred/room_010.json")).run()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from detection.model.data import PLY_NAME, read_class_boxes, write_class_boxes
from detection.model.detector import load_detector
from detection.model.train import DETECTOR_NAME, LOG_NAME, DetectorTrainConfig, train_detector
from splat3d.device import resolve_device
from splat3d.safepath import child_path


@dataclass(frozen=True)
class DetectTrain:
    """Train the Gaussian detector on a detection data folder (``<scene>/point_cloud.ply`` +
    ``<scene>/gt_boxes.json``, optional ``splits.json`` / ``classes.json``) and write
    ``OUTPUT/detector.pt`` and ``OUTPUT/train_log.json``; an interrupted run resumes."""

    data: Path
    """The detection data folder."""
    output: Path
    """Output folder for the detector, checkpoints and the training log."""
    split: str | None = "train"
    """Split of ``splits.json`` to train on (every scene when the file is absent)."""
    dataset: Literal["scannet", "arkitscenes"] = "scannet"
    """Benchmark whose class list is used when there is no ``classes.json``."""
    epochs: int | None = None
    """Override the training config's epoch count."""
    seed: int | None = None
    """Override the training config's seed."""
    config: DetectorTrainConfig = field(default_factory=DetectorTrainConfig)
    """Training (and detector architecture) settings."""
    progress: bool = True
    """Show a progress bar."""

    def run(self) -> None:
        """Read the scenes, train, write the detector."""
        from detection.model.data import read_detection_scenes

        resolve_device(self.config.device)
        scenes, classes = read_detection_scenes(self.data, self.split, self.dataset)
        config = self.config
        if self.epochs is not None:
            config = replace(config, epochs=self.epochs)
        if self.seed is not None:
            config = replace(config, seed=self.seed)
        print(f"training on {len(scenes)} scenes, classes {', '.join(classes)}")
        train_detector(scenes, classes, config, output=self.output, progress=self.progress)
        print(f"wrote {self.output / DETECTOR_NAME} and {self.output / LOG_NAME}")


@dataclass(frozen=True)
class DetectRun:
    """Detect boxes in one scene's Gaussians (``SCENE/point_cloud.ply``, or a PLY file) and
    write them as a prediction scene file (atomic); with ``--gt``, print AP against it."""

    scene: Path
    """A run folder holding ``point_cloud.ply``, or a PLY file."""
    detector: Path
    """The trained detector (``detector.pt`` from ``detect train``)."""
    out: Path
    """Prediction JSON to write (detection.eval scene-file format), or an existing folder to
    write ``OUT/<name>.json`` in (the layout ``eval-det --pred`` reads); a name such as
    ``../x`` is made safe, so the file stays in that folder."""
    gt: Path | None = None
    """Optional ground-truth scene file; prints per-class AP and mAP@0.25 / 0.5."""
    name: str | None = None
    """Scene id written in the file (default: the folder's name)."""
    score_threshold: float | None = None
    """Minimum box score (default: the detector's config)."""
    nms_iou: float | None = None
    """NMS IoU threshold (default: the detector's config)."""
    device: str = "cpu"
    """Torch device to run the detector on."""

    def run(self) -> None:
        """Load, detect, write, optionally evaluate."""
        from detection.eval import evaluate_boxes, format_results_table
        from splat3d.io.ply import load_ply

        resolve_device(self.device)
        if self.score_threshold is not None and not 0 <= self.score_threshold <= 1:
            raise ValueError(f"--score-threshold {self.score_threshold}: expected a score in "
                             f"[0, 1]")
        if self.nms_iou is not None and not 0 < self.nms_iou <= 1:
            raise ValueError(f"--nms-iou {self.nms_iou}: expected an IoU in (0, 1]")
        ply = self.scene if self.scene.suffix == ".ply" else self.scene / PLY_NAME
        if not ply.is_file():
            raise FileNotFoundError(f"{ply} does not exist")
        name = self.name or (self.scene.stem if self.scene.suffix == ".ply" else self.scene.name)
        out = child_path(self.out, name, ".json") if self.out.is_dir() else self.out
        detector = load_detector(self.detector, self.device)
        gaussians = load_ply(ply)
        if len(gaussians) == 0:
            raise ValueError(f"{ply}: holds no Gaussians; nothing to detect")
        boxes = detector.predict(gaussians, self.score_threshold, self.nms_iou)
        write_class_boxes(out, name, boxes, detector.classes)
        print(f"wrote {len(boxes)} boxes to {out}")
        if self.gt is not None:
            gt = read_class_boxes(self.gt, detector.classes)
            results = evaluate_boxes({name: boxes}, {name: gt}, detector.classes)
            print(format_results_table(results))
