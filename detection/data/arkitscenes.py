"""ARKitScenes 3DOD annotations and the official train/validation split.

ARKitScenes (Baruch et al., NeurIPS 2021 Datasets and Benchmarks; ``apple/ARKitScenes``)
annotates each 3DOD video ``<video_id>`` with ``<video_id>_3dod_annotation.json``::

    {"data": [{"uid": ..., "label": "chair",
               "segments": {"obbAligned": {"centroid": [x, y, z],
                                           "axesLengths": [lx, ly, lz],
                                           "normalizedAxes": [9 floats]}}}, ...],
     "skipped": false, ...}

Following the official ``threedod/benchmark_scripts`` (``tenFpsDataLoader.extract_gt`` and
``box_utils.compute_box_3d``), ``normalizedAxes`` reshaped row-major to 3x3 has the world
direction of box axis ``i`` in row ``i``, and axis ``i`` has full length
``axesLengths[i]``; axis 2 is the vertical one (the boxes are gravity aligned). Hence our
box is ``(centroid, axesLengths, yaw)`` with ``yaw = atan2(row0.y, row0.x)``. The official
``corners_to_boxes`` stores ``heading = -yaw`` (a clockwise angle) in its ``*_bbox.npy``.

Labels are normalised as the official code does (spaces, ``-`` and ``/`` become ``_``);
boxes whose label is not one of the 17 classes are skipped and reported, as there.

The reader checks every field it uses (type, vector length, finite numbers) and names the
file, the entry and the field when one is missing or malformed; fields it does not use are
ignored, as the official files carry many (``attributes``, ``segments.obb``, ...).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detection.data.boxes import Boxes3D
from detection.data.classes import ARKITSCENES_CLASSES
from detection.data.json_fields import field, finite_numbers, json_object, shown, string
from splat3d.fileio import read_json

ANNOTATION_SUFFIX = "_3dod_annotation.json"
MAX_TILT_DEG = 5.0
"""Largest angle between box axis 2 and the vertical that is read as an upright box."""

_CLASS_INDEX = {name: i for i, name in enumerate(ARKITSCENES_CLASSES)}


@dataclass(frozen=True)
class ARKitScenesAnnotation:
    """The 3DOD ground truth of one video.

    Attributes:
        video_id: e.g. ``"41254925"`` (from the file name).
        boxes: yaw-oriented boxes, labels index
            :data:`~detection.data.classes.ARKITSCENES_CLASSES`.
        uids: annotation ``uid`` of each box (``""`` when absent).
        skipped: the file's ``skipped`` flag (the official pipeline drops such videos).
        ignored_labels: labels of the boxes left out because they are not benchmark classes.
    """

    video_id: str
    boxes: Boxes3D
    uids: tuple[str, ...]
    skipped: bool
    ignored_labels: tuple[str, ...]


def normalize_label(label: str) -> str:
    """Official label normalisation: ``"tv monitor"`` -> ``"tv_monitor"``."""
    for delimiter in (" ", "-", "/"):
        label = label.replace(delimiter, "_")
    return label


def read_arkitscenes_annotation(path: str | Path) -> ARKitScenesAnnotation:
    """Boxes of one ``<video_id>_3dod_annotation.json``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the file, the entry and the field for invalid JSON, missing or
            mistyped fields, wrong vector lengths, non-finite numbers, negative lengths,
            non-orthonormal axes or a box tilted more than :data:`MAX_TILT_DEG` from upright.
    """
    path = Path(path)
    name = path.name
    video_id = name[: -len(ANNOTATION_SUFFIX)] if name.endswith(ANNOTATION_SUFFIX) else path.stem
    data = read_json(path)
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected an object with a 'data' list")
    skipped = data.get("skipped", False)
    if not isinstance(skipped, bool):
        raise ValueError(f"{path}: skipped: expected true or false, found {shown(skipped)}")

    params, labels, uids, ignored = [], [], [], []
    for i, entry in enumerate(entries):
        where = f"{path}: data[{i}]"
        json_object(entry, where)
        label = normalize_label(string(field(entry, "label", where), f"{where}.label"))
        segments = json_object(field(entry, "segments", where), f"{where}.segments")
        at = f"{where}.segments.obbAligned"
        obb = json_object(field(segments, "obbAligned", where), at)
        centroid = np.array(finite_numbers(field(obb, "centroid", where), 3, f"{at}.centroid"))
        lengths = np.array(finite_numbers(field(obb, "axesLengths", where), 3,
                                          f"{at}.axesLengths"))
        axes = np.array(finite_numbers(field(obb, "normalizedAxes", where), 9,
                                       f"{at}.normalizedAxes"))
        if (lengths < 0).any():
            raise ValueError(f"{at}.axesLengths: expected lengths >= 0, found "
                             f"{lengths.tolist()} (negative axesLengths)")
        if label not in _CLASS_INDEX:
            ignored.append(label)
            continue
        params.append([*centroid, *lengths, _upright_yaw(axes.reshape(3, 3), where)])
        labels.append(_CLASS_INDEX[label])
        uids.append(str(entry.get("uid", "")))
    boxes = Boxes3D(np.array(params, dtype=np.float64).reshape(-1, 7), np.array(labels, np.int64))
    return ARKitScenesAnnotation(
        video_id=video_id,
        boxes=boxes,
        uids=tuple(uids),
        skipped=skipped,
        ignored_labels=tuple(ignored),
    )


def read_arkitscenes_split(csv_path: str | Path) -> dict[str, tuple[str, ...]]:
    """Video ids per fold of the official ``3dod_train_val_splits.csv``.

    Returns:
        ``{"Training": (...), "Validation": (...)}`` (whatever folds the file names), ids
        as strings in file order.

    Raises:
        ValueError: naming the file when the ``video_id`` or ``fold`` column is missing.
    """
    csv_path = Path(csv_path)
    folds: dict[str, list[str]] = {}
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"video_id", "fold"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)}")
            for row in reader:
                if row["fold"] is None or row["video_id"] is None:
                    raise ValueError(f"{csv_path}: line {reader.line_num}: too few columns")
                folds.setdefault(row["fold"], []).append(row["video_id"])
    except UnicodeDecodeError as err:
        raise ValueError(f"{csv_path}: not a UTF-8 text file ({err.reason})") from None
    except csv.Error as err:
        raise ValueError(f"{csv_path}: malformed CSV ({err})") from None
    return {fold: tuple(ids) for fold, ids in folds.items()}


def _upright_yaw(axes: np.ndarray, where: str) -> float:
    if not np.allclose(axes @ axes.T, np.eye(3), atol=1e-3):
        raise ValueError(f"{where}: normalizedAxes is not orthonormal: {axes.tolist()}")
    if abs(axes[2, 2]) < math.cos(math.radians(MAX_TILT_DEG)):
        tilt = math.degrees(math.acos(min(abs(axes[2, 2]), 1.0)))
        raise ValueError(
            f"{where}: box axis 2 is {tilt:.1f} deg from vertical (> {MAX_TILT_DEG}); "
            "only gravity-aligned boxes are supported"
        )
    return math.atan2(axes[0, 1], axes[0, 0])
