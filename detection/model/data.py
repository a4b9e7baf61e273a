"""Detection scenes: the scene-set folder reader and training-time augmentation.

A scene-set folder (see ``/work/notes``' contract, written by the 3DGS-DET pipeline)::

    ROOT/splits.json            {"train": [scene, ...], "val": [...]}   (optional)
    ROOT/classes.json           ["chair", "table", ...]                 (optional)
    ROOT/<scene>/point_cloud.ply     the scene's Gaussians (splat3d.io PLY)
    ROOT/<scene>/gt_boxes.json       ground truth, detection.eval scene-file format

Box labels in scene files are class names of a benchmark (ScanNet or ARKitScenes, the
vocabularies :mod:`detection.eval.scene_files` reads); ``classes.json`` selects and orders
the classes the detector learns, a subset of one benchmark's names.

Augmentation (as FCAF3D trains on ScanNet: random flips, rotation about z, scaling; plus
dropping Gaussians) changes the Gaussians and the boxes by the same map, rotating and
mirroring the Gaussians' orientations along with their centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from detection.data.boxes import Boxes3D
from detection.data.classes import DATASET_CLASSES
from detection.eval.scene_files import read_scene_boxes, write_scene_boxes
from splat3d.fileio import read_json
from splat3d.gaussians import Gaussians
from splat3d.io.ply import load_ply

PLY_NAME = "point_cloud.ply"
GT_NAME = "gt_boxes.json"


@dataclass
class DetectionScene:
    """One training / evaluation scene: its Gaussians and ground-truth boxes."""

    name: str
    gaussians: Gaussians
    boxes: Boxes3D
    """Labels index the class tuple the scene was read with."""


def scene_file_dataset(classes: tuple[str, ...]) -> str:
    """The benchmark whose class names include every entry of ``classes`` (ScanNet first).

    Raises:
        ValueError: when no benchmark has all of them (scene files store benchmark names).
    """
    for dataset, names in DATASET_CLASSES.items():
        if set(classes) <= set(names):
            return dataset
    raise ValueError(
        f"classes {list(classes)} are not all ScanNet or ARKitScenes class names; scene box "
        "files (detection.eval.scene_files) can only store those"
    )


def read_class_boxes(path: Path, classes: tuple[str, ...]) -> Boxes3D:
    """Boxes of a scene file with labels re-indexed into ``classes``.

    Raises:
        ValueError: for a malformed file or a box whose label is not in ``classes``.
    """
    dataset = scene_file_dataset(classes)
    _, boxes = read_scene_boxes(path, dataset, with_scores=False)
    names = DATASET_CLASSES[dataset]
    remap = np.array([classes.index(n) if n in classes else -1 for n in names])
    labels = remap[boxes.labels]
    if (labels < 0).any():
        bad = names[int(boxes.labels[np.argmax(labels < 0)])]
        raise ValueError(f"{path}: label {bad!r} is not one of the classes {list(classes)}")
    return Boxes3D(boxes.params, labels)


def write_class_boxes(path: Path, scene: str, boxes: Boxes3D, classes: tuple[str, ...]) -> None:
    """Write ``boxes`` (labels indexing ``classes``) as a scene file, atomically."""
    dataset = scene_file_dataset(classes)
    names = DATASET_CLASSES[dataset]
    labels = np.array([names.index(classes[i]) for i in boxes.labels], dtype=np.int64)
    write_scene_boxes(path, scene, Boxes3D(boxes.params, labels, boxes.scores), dataset)


def read_detection_scenes(
    root: str | Path, split: str | None = None, dataset: str = "scannet"
) -> tuple[list[DetectionScene], tuple[str, ...]]:
    """Scenes of a scene-set folder and the class tuple.

    Args:
        root: the folder.
        split: a key of ``splits.json``; ``None`` (or no ``splits.json``) reads every
            sub-folder holding a ``point_cloud.ply``.
        dataset: the benchmark whose classes are used when there is no ``classes.json``.

    Raises:
        FileNotFoundError: for a missing folder, scene folder or scene file (named).
        ValueError: for malformed ``splits.json`` / ``classes.json`` / box files, an unknown
            split, or no scenes.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"detection data folder {root} does not exist")
    classes = _read_classes(root, dataset)
    names = _scene_names(root, split)
    scenes = []
    for name in names:
        folder = root / name
        for file in (PLY_NAME, GT_NAME):
            if not (folder / file).is_file():
                raise FileNotFoundError(f"scene {name!r}: {folder / file} does not exist")
        boxes = read_class_boxes(folder / GT_NAME, classes)
        scenes.append(DetectionScene(name, load_ply(folder / PLY_NAME), boxes))
    return scenes, classes


def _read_classes(root: Path, dataset: str) -> tuple[str, ...]:
    path = root / "classes.json"
    if not path.is_file():
        if dataset not in DATASET_CLASSES:
            raise ValueError(f"unknown dataset {dataset!r}; expected {sorted(DATASET_CLASSES)}")
        return DATASET_CLASSES[dataset]
    data = read_json(path)
    ok = isinstance(data, list) and data and all(isinstance(c, str) and c for c in data)
    if not ok or len(set(data)) != len(data):
        raise ValueError(f"{path}: expected a non-empty list of distinct class names")
    classes = tuple(data)
    scene_file_dataset(classes)
    return classes


def _scene_names(root: Path, split: str | None) -> list[str]:
    path = root / "splits.json"
    if split is None or not path.is_file():
        names = sorted(p.name for p in root.iterdir() if (p / PLY_NAME).is_file())
        if not names:
            raise ValueError(f"{root}: no scene folders with a {PLY_NAME}")
        return names
    splits = read_json(path)
    if not isinstance(splits, dict) or split not in splits:
        keys = sorted(splits) if isinstance(splits, dict) else []
        raise ValueError(f"{path}: no split {split!r} (found {keys})")
    names = splits[split]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: split {split!r} must be a non-empty list of scene names")
    return names


# ---------------------------------------------------------------------- augmentation
@dataclass(frozen=True)
class AugmentConfig:
    """Random training-time transforms of a scene (applied to Gaussians and boxes alike)."""

    flip: bool = True
    """Mirror x and/or y, each with probability 1/2."""
    rotate90: bool = True
    """Rotate about z by a random multiple of 90 degrees (keeps axis-aligned boxes aligned)."""
    max_angle: float = 0.0
    """Additionally rotate about z by a uniform angle in ``[-max_angle, max_angle]`` radians
    (only for yaw datasets; an axis-aligned box stops being one)."""
    scale: tuple[float, float] = (0.9, 1.1)
    """Uniform random scale factor range."""
    drop: float = 0.1
    """Drop up to this fraction of the Gaussians (uniform in ``[0, drop]``)."""


def augment_scene(
    scene: DetectionScene, config: AugmentConfig, generator: torch.Generator
) -> DetectionScene:
    """A randomly transformed copy of ``scene`` (see :class:`AugmentConfig`).

    The linear map ``A = s * R_z(angle) * M`` (``M`` a mirror or identity) acts on the means
    and, through the rotation part, on the quaternions; log-scales shift by ``log s``. Boxes
    move with their centres; a mirror negates yaw, a rotation adds to it, and an odd multiple
    of 90 degrees is expressed by swapping ``dx`` and ``dy`` instead.
    """
    g, params = scene.gaussians, torch.from_numpy(scene.boxes.params.copy())

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    if config.drop > 0 and len(g) > 1:
        keep = torch.rand(len(g), generator=generator) >= uniform(0.0, config.drop)
        g = g[keep]
    means, quats = g.means.clone(), g.quats.clone()
    for axis in (0, 1):
        if config.flip and torch.rand((), generator=generator) < 0.5:
            means[:, axis] = -means[:, axis]
            # mirroring axis a: the rotation M R M keeps q_a and negates the other two parts
            others = [i for i in (1, 2, 3) if i != axis + 1]
            quats[:, others] = -quats[:, others]
            params[:, axis] = -params[:, axis]
            params[:, 6] = -params[:, 6]
    quarter = int(torch.randint(4, (), generator=generator)) if config.rotate90 else 0
    angle = quarter * math.pi / 2 + uniform(-config.max_angle, config.max_angle)
    means = _rotate_z(means, angle)
    half = torch.tensor([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])
    quats = _quat_multiply(half.to(quats), quats)
    params[:, :3] = _rotate_z(params[:, :3], angle)
    params[:, 6] += angle - quarter * math.pi / 2
    if quarter % 2 == 1:
        params[:, [3, 4]] = params[:, [4, 3]]
    scale = uniform(*config.scale)
    means = means * scale
    params[:, :6] *= scale
    params[:, 6] = torch.remainder(params[:, 6] + math.pi / 2, math.pi) - math.pi / 2
    out = Gaussians(means, quats, g.log_scales + math.log(scale), g.opacity_logits, g.sh)
    boxes = Boxes3D(params.numpy(), scene.boxes.labels.copy())
    return DetectionScene(scene.name, out, boxes)


def _rotate_z(v: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    out = v.clone()
    out[:, 0] = c * v[:, 0] - s * v[:, 1]
    out[:, 1] = s * v[:, 0] + c * v[:, 1]
    return out


def _quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` of (w, x, y, z) quaternions (``a`` broadcast)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)
