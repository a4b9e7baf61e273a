"""Per-scene box files (JSON) and ground-truth folders.

A scene file holds the boxes of one scene::

    {"scene": "scene0011_00",
     "boxes": [{"center": [x, y, z], "size": [dx, dy, dz], "yaw": 0.0,
                "label": "chair", "score": 0.93}, ...]}

``center``/``size``/``yaw`` follow :mod:`detection.data.boxes` (geometric centre, full
sizes, counter-clockwise yaw about +z in radians). ``yaw`` may be omitted (0, an
axis-aligned box). ``score`` is required in predictions and ignored in ground truth.
``label`` is a class name of the dataset (:data:`detection.data.classes.DATASET_CLASSES`).
Every number must be finite and sizes ``>= 0``; a box with any other field is refused, since
a misspelt ``"yaw"`` would otherwise silently read as an axis-aligned box.

A folder of scene files is read file by file (``*.json``, not recursive). The metrics file
that ``splat3d eval-det --out`` writes is recognised by its keys (``per_class`` and
``mAP@...``, no ``boxes``) and skipped with a
:class:`~splat3d.data.errors.DatasetWarning`, so ``--out preds/metrics.json`` next to the
predictions it scores does not break the next evaluation; any other JSON that is not a scene
file is an error naming it (it may be a prediction written in another format, which must not
be silently ignored).

Ground truth can also be read straight from dataset files: ScanNet VoteNet/mmdetection3d
``<scene>_bbox.npy`` / ``<scene>_aligned_bbox.npy`` arrays, or ARKitScenes
``<video_id>_3dod_annotation.json`` files (searched recursively, so the official
``<fold>/<video_id>/`` layout works).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from detection.data.arkitscenes import ANNOTATION_SUFFIX, read_arkitscenes_annotation
from detection.data.boxes import Boxes3D
from detection.data.classes import dataset_classes
from detection.data.json_fields import finite_number, finite_numbers, json_object, shown
from detection.data.scannet_arrays import list_scannet_array_scenes, load_scannet_array_boxes
from splat3d.data.errors import DatasetWarning
from splat3d.fileio import atomic_path, read_json

BOX_FIELDS = ("center", "size", "yaw", "label", "score")
"""The fields a box object of a scene file may have."""


class BoxFileError(ValueError):
    """A scene box file that does not follow the format; the message names the file."""


def read_scene_boxes(path: str | Path, dataset: str, with_scores: bool) -> tuple[str, Boxes3D]:
    """Scene id and boxes of one JSON scene file.

    Args:
        path: the JSON file.
        dataset: ``"scannet"`` or ``"arkitscenes"``; labels must be its classes.
        with_scores: require a ``score`` per box (predictions) or ignore it (ground truth).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        BoxFileError: for malformed, too deeply nested or non-UTF-8 JSON, a missing, mistyped
            or unknown field, a wrong vector length, a non-finite number, a negative size or
            an unknown label, naming the file, the box and the field.
    """
    path = Path(path)
    return _scene_boxes(_read_box_json(path), path, dataset, with_scores)


def is_metrics_file(data: object) -> bool:
    """True for a parsed metrics file of ``splat3d eval-det --out`` (the
    :func:`detection.eval.evaluate_detections` dict): ``per_class``, ``mAP@...`` keys, no
    ``boxes``."""
    return (isinstance(data, dict) and "boxes" not in data
            and isinstance(data.get("per_class"), dict)
            and any(isinstance(k, str) and k.startswith("mAP@") for k in data))


def _read_box_json(path: Path) -> object:
    try:
        return read_json(path)
    except ValueError as err:
        raise BoxFileError(str(err)) from None


def _scene_boxes(data: object, path: Path, dataset: str, with_scores: bool) -> tuple[str, Boxes3D]:
    classes = dataset_classes(dataset)
    if not isinstance(data, dict) or not isinstance(data.get("scene"), str) or not data["scene"]:
        raise BoxFileError(f"{path}: expected an object with a non-empty string 'scene'")
    if not isinstance(data.get("boxes"), list):
        raise BoxFileError(f"{path}: expected 'boxes' to be a list")

    params, labels, scores = [], [], []
    for i, item in enumerate(data["boxes"]):
        where = f"{path}: boxes[{i}]"
        json_object(item, where, BoxFileError)
        unknown = sorted(set(item) - set(BOX_FIELDS))
        if unknown:
            raise BoxFileError(f"{where}: unknown field(s) {unknown}; expected only "
                               f"{', '.join(BOX_FIELDS)}")
        center = finite_numbers(item.get("center"), 3, f"{where}.center", BoxFileError)
        size = finite_numbers(item.get("size"), 3, f"{where}.size", BoxFileError)
        if min(size) < 0:
            raise BoxFileError(f"{where}.size: sizes must be >= 0, found {size}")
        yaw = finite_number(item["yaw"], f"{where}.yaw", BoxFileError) if "yaw" in item else 0.0
        label = item.get("label")
        if not isinstance(label, str) or label not in classes:
            raise BoxFileError(
                f"{where}.label: {shown(label)} is not a {dataset} class; expected one of "
                f"{', '.join(classes)}"
            )
        if with_scores:
            scores.append(finite_number(item.get("score"), f"{where}.score", BoxFileError))
        params.append([*center, *size, yaw])
        labels.append(classes.index(label))
    boxes = Boxes3D(
        np.array(params, dtype=np.float64).reshape(-1, 7),
        np.array(labels, dtype=np.int64),
        np.array(scores, dtype=np.float64) if with_scores else None,
    )
    return data["scene"], boxes


def write_scene_boxes(path: str | Path, scene: str, boxes: Boxes3D, dataset: str) -> None:
    """Write ``boxes`` of ``scene`` as a JSON scene file (scores included when present),
    atomically."""
    classes = dataset_classes(dataset)
    items = []
    for k in range(len(boxes)):
        p = boxes.params[k]
        item = {"center": p[:3].tolist(), "size": p[3:6].tolist(), "yaw": float(p[6]),
                "label": classes[int(boxes.labels[k])]}
        if boxes.scores is not None:
            item["score"] = float(boxes.scores[k])
        items.append(item)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"scene": scene, "boxes": items}, indent=1) + "\n")


def read_prediction_dir(pred_dir: str | Path, dataset: str) -> dict[str, Boxes3D]:
    """Scene id -> scored boxes, from every ``*.json`` file directly in ``pred_dir``.

    An ``eval-det`` metrics file among them is skipped with a ``DatasetWarning`` (see the
    module docstring), so the metrics may be written into the prediction folder.

    Raises:
        FileNotFoundError: when ``pred_dir`` is not a folder or holds no scene file.
        BoxFileError: for a malformed file, a JSON file that is not a scene file, or two
            files claiming the same scene.
    """
    return _read_json_dir(Path(pred_dir), dataset, with_scores=True, what="prediction")


def read_ground_truth_dir(gt_dir: str | Path, dataset: str) -> dict[str, Boxes3D]:
    """Scene id -> ground-truth boxes, from whichever layout ``gt_dir`` holds.

    In order of precedence: ARKitScenes ``*_3dod_annotation.json`` (recursive; the video
    id is the scene id), ScanNet ``*_bbox.npy`` / ``*_aligned_bbox.npy`` arrays, then JSON
    scene files.

    Raises:
        FileNotFoundError: when ``gt_dir`` is not a folder or holds none of these.
        ValueError: when the layout belongs to the other dataset, or a file is malformed.
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"ground-truth folder {gt_dir} does not exist")
    annotations = sorted(gt_dir.rglob(f"*{ANNOTATION_SUFFIX}"))
    if annotations:
        _require_dataset(dataset, "arkitscenes", gt_dir, f"*{ANNOTATION_SUFFIX}")
        result: dict[str, Boxes3D] = {}
        for path in annotations:
            ann = read_arkitscenes_annotation(path)
            if ann.video_id in result:
                raise ValueError(f"{path}: video {ann.video_id} is annotated twice in {gt_dir}")
            result[ann.video_id] = ann.boxes
        return result
    array_scenes = list_scannet_array_scenes(gt_dir)
    if array_scenes:
        _require_dataset(dataset, "scannet", gt_dir, "*_bbox.npy")
        return {scene: load_scannet_array_boxes(gt_dir, scene) for scene in array_scenes}
    if any(gt_dir.glob("*.json")):
        return _read_json_dir(gt_dir, dataset, with_scores=False, what="ground-truth")
    raise FileNotFoundError(
        f"no ground truth in {gt_dir}: expected JSON scene files, ScanNet *_bbox.npy arrays "
        f"or ARKitScenes *{ANNOTATION_SUFFIX} files"
    )


def _read_json_dir(folder: Path, dataset: str, with_scores: bool, what: str) -> dict:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no {what} *.json files in {folder}")
    result: dict[str, Boxes3D] = {}
    source: dict[str, Path] = {}
    for path in paths:
        data = _read_box_json(path)
        if is_metrics_file(data):
            warnings.warn(f"{path}: skipped, an eval-det metrics file, not a {what} scene file",
                          DatasetWarning, stacklevel=3)
            continue
        if not isinstance(data, dict) or not ({"scene", "boxes"} & set(data)):
            raise BoxFileError(f"{path}: not a {what} scene file (expected an object with "
                               f"'scene' and 'boxes'); every *.json in {folder} is read as one")
        scene, boxes = _scene_boxes(data, path, dataset, with_scores)
        if scene in result:
            raise BoxFileError(f"{path}: scene {scene!r} already read from {source[scene]}")
        result[scene], source[scene] = boxes, path
    if not result:
        raise FileNotFoundError(f"no {what} scene files in {folder}, only eval-det metrics")
    return result


def _require_dataset(dataset: str, expected: str, gt_dir: Path, pattern: str) -> None:
    dataset_classes(dataset)  # unknown names get the standard error first
    if dataset != expected:
        raise ValueError(f"{gt_dir} holds {pattern} files ({expected}), but dataset={dataset!r}")
