"""Per-scene box files (JSON) and ground-truth folders.

A scene file holds the boxes of one scene::

    {"scene": "scene0011_00",
     "boxes": [{"center": [x, y, z], "size": [dx, dy, dz], "yaw": 0.0,
                "label": "chair", "score": 0.93}, ...]}

``center``/``size``/``yaw`` follow :mod:`detection.data.boxes` (geometric centre, full
sizes, counter-clockwise yaw about +z in radians). ``yaw`` may be omitted (0, an
axis-aligned box). ``score`` is required in predictions and ignored in ground truth.
``label`` is a class name of the dataset (:data:`detection.data.classes.DATASET_CLASSES`).

Ground truth can also be read straight from dataset files: ScanNet VoteNet/mmdetection3d
``<scene>_bbox.npy`` / ``<scene>_aligned_bbox.npy`` arrays, or ARKitScenes
``<video_id>_3dod_annotation.json`` files (searched recursively, so the official
``<fold>/<video_id>/`` layout works).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from detection.data.arkitscenes import ANNOTATION_SUFFIX, read_arkitscenes_annotation
from detection.data.boxes import Boxes3D
from detection.data.classes import dataset_classes
from detection.data.scannet_arrays import list_scannet_array_scenes, load_scannet_array_boxes
from splat3d.fileio import atomic_path


class BoxFileError(ValueError):
    """A scene box file that does not follow the format; the message names the file."""


def read_scene_boxes(path: str | Path, dataset: str, with_scores: bool) -> tuple[str, Boxes3D]:
    """Scene id and boxes of one JSON scene file.

    Args:
        path: the JSON file.
        dataset: ``"scannet"`` or ``"arkitscenes"``; labels must be its classes.
        with_scores: require a ``score`` per box (predictions) or ignore it (ground truth).

    Raises:
        BoxFileError: for malformed JSON, a missing or mistyped field, a wrong vector
            length, a negative size or an unknown label, naming the file and the box.
    """
    path = Path(path)
    classes = dataset_classes(dataset)
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise BoxFileError(f"{path}: malformed JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scene"), str) or not data["scene"]:
        raise BoxFileError(f"{path}: expected an object with a non-empty string 'scene'")
    if not isinstance(data.get("boxes"), list):
        raise BoxFileError(f"{path}: expected 'boxes' to be a list")

    params, labels, scores = [], [], []
    for i, item in enumerate(data["boxes"]):
        where = f"{path}: boxes[{i}]"
        if not isinstance(item, dict):
            raise BoxFileError(f"{where}: expected an object, found {item!r}")
        center = _numbers(item, "center", 3, where)
        size = _numbers(item, "size", 3, where)
        if min(size) < 0:
            raise BoxFileError(f"{where}.size: sizes must be >= 0, found {size}")
        yaw = _number(item, "yaw", where) if "yaw" in item else 0.0
        label = item.get("label")
        if label not in classes:
            raise BoxFileError(
                f"{where}.label: {label!r} is not a {dataset} class; expected one of "
                f"{', '.join(classes)}"
            )
        if with_scores:
            scores.append(_number(item, "score", where))
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

    Raises:
        FileNotFoundError: when ``pred_dir`` is not a folder or holds no JSON file.
        BoxFileError: for a malformed file, or two files claiming the same scene.
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
        scene, boxes = read_scene_boxes(path, dataset, with_scores)
        if scene in result:
            raise BoxFileError(f"{path}: scene {scene!r} already read from {source[scene]}")
        result[scene], source[scene] = boxes, path
    return result


def _require_dataset(dataset: str, expected: str, gt_dir: Path, pattern: str) -> None:
    dataset_classes(dataset)  # unknown names get the standard error first
    if dataset != expected:
        raise ValueError(f"{gt_dir} holds {pattern} files ({expected}), but dataset={dataset!r}")


def _numbers(item: Mapping, key: str, size: int, where: str) -> list[float]:
    value = item.get(key)
    ok = isinstance(value, list) and len(value) == size and all(_is_number(v) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise BoxFileError(f"{where}.{key}: expected {size} finite numbers, found {value!r}")
    return [float(v) for v in value]


def _number(item: Mapping, key: str, where: str) -> float:
    value = item.get(key)
    if not _is_number(value) or not math.isfinite(value):
        raise BoxFileError(f"{where}.{key}: expected a finite number, found {value!r}")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
