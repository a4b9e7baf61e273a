"""Detections and ground-truth boxes from files, drawn in the viewer's box layer.

Reads one scene's boxes with the detection module's readers and hands them to
:meth:`viewer.web_viewer.Viewer.add_boxes`:

* a JSON scene file (:mod:`detection.eval.scene_files`: predictions with ``score``, or ground
  truth without) - labels read ``"chair 0.93"`` or ``"chair"``;
* an ARKitScenes ``<video_id>_3dod_annotation.json`` (yaw-oriented ground truth);
* a ScanNet VoteNet/mmdetection3d ``<scene>_bbox.npy`` / ``<scene>_aligned_bbox.npy``.

The viewer core does not depend on ``detection/``: it is imported here, lazily, only when
boxes are asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from splat3d.fileio import read_json

if TYPE_CHECKING:
    from detection.data.boxes import Boxes3D
    from viewer.web_viewer import Viewer

SCORE_DIGITS = 2
"""Decimals of the score shown after a predicted box's label."""
PRED_COLOR = (1.0, 0.45, 0.1)
"""Default colour of predicted (scored) boxes: orange."""
GT_COLOR = (0.15, 0.85, 0.3)
"""Default colour of ground-truth boxes: green."""


def read_box_file(path: str | Path, dataset: str) -> tuple[str, Boxes3D]:
    """Scene id and boxes of a box file (see the module docstring for the formats).

    A JSON scene file in which any box carries ``score`` is read as predictions (then every
    box needs one); otherwise as ground truth.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is malformed, its labels are not ``dataset`` classes, or it is a
            dataset file of the other dataset.
    """
    from detection.data.arkitscenes import ANNOTATION_SUFFIX, read_arkitscenes_annotation
    from detection.data.classes import dataset_classes
    from detection.data.scannet_arrays import load_scannet_array_boxes
    from detection.eval.scene_files import read_scene_boxes

    path = Path(path)
    dataset_classes(dataset)  # an unknown dataset name fails first, with the standard message
    if not path.is_file():
        raise FileNotFoundError(f"box file {path} does not exist")
    name = path.name
    if name.endswith(ANNOTATION_SUFFIX):
        _require(dataset, "arkitscenes", path)
        annotation = read_arkitscenes_annotation(path)
        return annotation.video_id, annotation.boxes
    for suffix in ("_aligned_bbox.npy", "_bbox.npy"):
        if name.endswith(suffix):
            _require(dataset, "scannet", path)
            scene = name[: -len(suffix)]
            return scene, load_scannet_array_boxes(path.parent, scene)
    if path.suffix != ".json":
        raise ValueError(f"{path}: not a box file; expected a JSON scene file, "
                         f"*{ANNOTATION_SUFFIX} or *_bbox.npy")
    return read_scene_boxes(path, dataset, with_scores=_has_scores(path))


def box_labels(boxes: Boxes3D, classes: Sequence[str]) -> list[str]:
    """Text per box: the class name, followed by the score when there is one."""
    names = [classes[int(k)] for k in boxes.labels]
    if boxes.scores is None:
        return names
    return [f"{n} {s:.{SCORE_DIGITS}f}" for n, s in zip(names, boxes.scores, strict=True)]


def show_scene_boxes(
    viewer: Viewer, path: str | Path, dataset: str, name: str | None = None,
    color: Sequence[float] | None = None, min_score: float = 0.0,
) -> int:
    """Draw the boxes of one box file as viewer group ``name``; returns how many were drawn.

    Args:
        viewer: the running viewer.
        path: a box file (see the module docstring).
        dataset: ``"scannet"`` or ``"arkitscenes"`` (the class names of the labels).
        name: box group name; default ``"pred:<file stem>"`` for scored boxes,
            ``"gt:<file stem>"`` otherwise. Showing a file again under the same name
            replaces its boxes.
        color: one RGB in [0, 1] for every box of the file; default :data:`PRED_COLOR` for
            predictions, :data:`GT_COLOR` for ground truth (the label names the class).
        min_score: predictions scoring below this are left out (ground truth is all shown).

    Raises:
        FileNotFoundError, ValueError: see :func:`read_box_file`; a malformed ``color``.
    """
    from detection.data.classes import dataset_classes

    path = Path(path)
    _, boxes = read_box_file(path, dataset)
    if boxes.scores is not None:
        boxes = boxes.select(boxes.scores >= min_score)
    if name is None:
        name = f"{'gt' if boxes.scores is None else 'pred'}:{path.stem}"
    if color is None:
        color = GT_COLOR if boxes.scores is None else PRED_COLOR
    rgb = np.asarray(color, dtype=np.float64)
    if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 1)):
        raise ValueError(f"show_scene_boxes: color must be an RGB triple in [0, 1], "
                         f"got {color!r}")
    colors = np.tile(rgb, (len(boxes), 1))
    p = boxes.params
    viewer.add_boxes(p[:, :3], p[:, 3:6], p[:, 6], labels=box_labels(boxes, dataset_classes(
        dataset)), colors=colors, name=name)
    return len(boxes)


def _has_scores(path: Path) -> bool:
    """Whether any box of a JSON scene file has a ``score`` (it is a prediction file)."""
    try:
        data = read_json(path)
    except ValueError:
        return False  # the scene-file reader reports the malformed file
    boxes = data.get("boxes") if isinstance(data, dict) else None
    return isinstance(boxes, list) and any(isinstance(b, dict) and "score" in b for b in boxes)


def _require(dataset: str, expected: str, path: Path) -> None:
    if dataset != expected:
        raise ValueError(f"{path} is a {expected} file, but dataset={dataset!r}")
