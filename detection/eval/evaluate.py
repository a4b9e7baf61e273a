"""``evaluate_detections``: folder of predictions + ground truth -> mAP@0.25 / mAP@0.5.

This is the function behind ``splat3d eval-det``; the protocol (exact 3D IoU, VOC
all-point AP, strict ``IoU > t`` matching) is the one of VoteNet and mmdetection3d used by
3DGS-DET (Cao et al., 2024), see :mod:`detection.eval.average_precision`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from detection.data.classes import dataset_classes
from detection.eval.average_precision import DEFAULT_IOU_THRESHOLDS, evaluate_boxes
from detection.eval.scene_files import read_ground_truth_dir, read_prediction_dir


def evaluate_detections(
    pred_dir: str | Path,
    gt_dir: str | Path,
    dataset: str = "scannet",
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
) -> dict:
    """Per-class AP and mAP of the prediction files in ``pred_dir``.

    Args:
        pred_dir: one JSON scene file per scene (format in :mod:`detection.eval.scene_files`).
            The metrics file this function's results are written to by ``splat3d eval-det
            --out`` may live here: it is recognised by its keys and skipped with a
            ``DatasetWarning``, so a user can keep the scores next to the predictions and run
            the evaluation again. Any other JSON that is not a scene file is an error naming
            it, rather than a prediction silently left out.
        gt_dir: ground truth as JSON scene files, ScanNet ``*_bbox.npy`` arrays or
            ARKitScenes ``*_3dod_annotation.json`` files.
        dataset: ``"scannet"`` or ``"arkitscenes"``: the class list labels must come from.
        iou_thresholds: IoU thresholds; the defaults give ``mAP@0.25`` and ``mAP@0.5``.

    Returns:
        ``{"mAP@0.25": float, "mAP@0.5": float, "per_class": {name: {"AP@0.25": float,
        "AP@0.5": float, "num_gt": int, "num_pred": int}}, "num_scenes": int}``; an AP is
        NaN for a class that has predictions but no ground truth (left out of the mAP).

    Raises:
        FileNotFoundError: for missing folders or files.
        ValueError: for malformed files or non-scene JSON files (naming them and the field),
            and when the prediction and ground-truth scene sets differ (every ground-truth
            scene needs a prediction file, possibly with an empty ``boxes`` list).

    Example:
        >>> results = evaluate_detections("preds/", "scannet/val_arrays/")  # doctest: +SKIP
        >>> print(format_results_table(results))  # doctest: +SKIP
    """
    ground_truth = read_ground_truth_dir(gt_dir, dataset)
    predictions = read_prediction_dir(pred_dir, dataset)
    missing = sorted(set(ground_truth) - set(predictions))
    extra = sorted(set(predictions) - set(ground_truth))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} ground-truth scene(s) without predictions "
                            f"(first: {missing[:5]}); write an empty 'boxes' list for them")
        if extra:
            problems.append(f"{len(extra)} predicted scene(s) not in {gt_dir} "
                            f"(first: {extra[:5]})")
        raise ValueError(f"scene mismatch between {pred_dir} and {gt_dir}: " + "; ".join(problems))
    return evaluate_boxes(predictions, ground_truth, dataset_classes(dataset), iou_thresholds)


def format_results_table(results: dict) -> str:
    """Plain-text table of :func:`evaluate_detections` results: one row per class, then mAP.

    Example:
        >>> print(format_results_table({"mAP@0.25": 0.5, "per_class": {"chair": {
        ...     "AP@0.25": 0.5, "num_gt": 2, "num_pred": 3}}}))
        class    num_gt  num_pred  AP@0.25
        ----------------------------------
        chair         2         3   0.5000
        ----------------------------------
        mAP                         0.5000
    """
    per_class = results["per_class"]
    ap_keys = [k[1:] for k in results if k.startswith("mAP@")]  # "AP@0.25", ...
    width = max([len("class"), len("mAP")] + [len(name) for name in per_class]) + 2
    header = f"{'class':<{width}}{'num_gt':>8}{'num_pred':>10}" + "".join(
        f"{k:>{max(len(k), 6) + 2}}" for k in ap_keys
    )
    rule = "-" * len(header)
    lines = [header, rule]
    for name, entry in per_class.items():
        lines.append(f"{name:<{width}}{entry['num_gt']:>8}{entry['num_pred']:>10}" + "".join(
            f"{_fmt(entry[k]):>{max(len(k), 6) + 2}}" for k in ap_keys
        ))
    lines.append(rule)
    lines.append(f"{'mAP':<{width + 18}}" + "".join(
        f"{_fmt(results['m' + k]):>{max(len(k), 6) + 2}}" for k in ap_keys
    ))
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"
