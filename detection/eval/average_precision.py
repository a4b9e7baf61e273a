"""VOC-style average precision of 3D detections, per class, and its mean over classes.

This reproduces the protocol of VoteNet's ``utils/eval_det.py`` (Qi et al., ICCV 2019),
itself derived from the PASCAL VOC ``voc_eval.py`` of py-faster-rcnn, and of
mmdetection3d's ``mmdet3d/evaluation/functional/indoor_eval.py``, which report
``mAP@0.25`` and ``mAP@0.5`` on ScanNet (and which 3DGS-DET, Cao et al. 2024,
"3DGS-DET: Empower 3D Gaussian Splatting with Boundary Guidance and Box-Focused Sampling
for 3D Object Detection", reports on ScanNet and ARKitScenes):

1. For one class, pool the detections of every scene and sort them by decreasing score.
2. Each detection is compared with the ground-truth boxes of the same class in the same
   scene; ``g`` is the one of highest IoU (the first of them on ties, in file order).
   The detection is a true positive when ``IoU(d, g) > threshold`` (strictly) and ``g``
   has not been matched by a higher-scored detection; otherwise it is a false positive.
   As in both references, an already-matched ``g`` makes the detection a false positive:
   it does not fall back to the second-best ground truth.
3. ``precision = cumTP / (cumTP + cumFP)``, ``recall = cumTP / num_gt``; AP is the area
   under the precision envelope (all-point interpolation, VOC 2010+; not the 11-point
   VOC 2007 metric).

Edge cases, and what the references do:

* **Ground truth but no predictions**: AP = 0, included in the mean (VoteNet's
  ``eval_det_multiprocessing`` and mmdetection3d's ``eval_map_recall`` both do this).
* **Predictions but no ground truth**: recall is 0/0. VoteNet and mmdetection3d compute
  ``tp / 0`` and propagate NaN into the per-class AP *and* into the mean, so one such
  class makes mAP NaN; ARKitScenes' ``eval_utils.py`` divides by ``num_gt + 1e-4`` and
  reports AP = 0. We report the per-class AP as NaN ("undefined", like VoteNet and
  mmdetection3d) but average mAP over the classes that have ground truth only. On the
  official validation splits every class has ground truth, so all three agree there.
* **Neither**: the class is absent from the output and from the mean, as in both.
* **Score ties**: the references use NumPy's default (unstable) ``argsort``; we use a
  stable sort, so tied detections keep their input order (scenes in sorted order, boxes in
  file order) and the result is deterministic.
* ARKitScenes' ``num_gt + 1e-4`` recall denominator is not reproduced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from jaxtyping import Float

from detection.data.boxes import Boxes3D
from detection.eval.iou3d import paired_box_iou_3d

DEFAULT_IOU_THRESHOLDS: tuple[float, ...] = (0.25, 0.5)
"""IoU thresholds of the indoor benchmarks (VoteNet, mmdetection3d, 3DGS-DET)."""

PairedIouFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(a [P, 7], b [P, 7]) -> [P]`` IoU of each pair, e.g. :func:`paired_box_iou_3d`."""


def voc_average_precision(
    recall: Float[np.ndarray, " D"], precision: Float[np.ndarray, " D"]
) -> float:
    """Area under the precision envelope of a precision–recall curve (all-point VOC AP).

    ``recall`` must be non-decreasing (it is a cumulative count). The curve is padded with
    ``(0, 0)`` and ``(1, 0)``, precision is replaced by its running maximum from the right
    (the envelope), and the envelope is integrated over the recall steps.

    Example:
        >>> voc_average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
        0.8333333333333333
    """
    rec = np.concatenate([[0.0], recall, [1.0]])
    prec = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    steps = np.nonzero(rec[1:] != rec[:-1])[0]
    return float(np.sum((rec[steps + 1] - rec[steps]) * envelope[steps + 1]))


def true_positive_flags(
    best_iou: Float[np.ndarray, " D"], best_gt: np.ndarray, threshold: float
) -> np.ndarray:
    """TP flags of detections already sorted by decreasing score.

    ``best_iou[d]`` is the highest IoU of detection ``d`` with a same-class ground truth of
    its scene (``-inf`` when there is none) and ``best_gt[d]`` a global index of that
    ground truth. A detection is a TP exactly when its IoU exceeds the threshold and no
    earlier detection above the threshold claimed the same ground truth, which is the
    sequential VOC matching rule in closed form.
    """
    above = best_iou > threshold
    flags = np.zeros(best_iou.shape[0], dtype=bool)
    candidates = np.nonzero(above)[0]
    _, first = np.unique(best_gt[candidates], return_index=True)
    flags[candidates[first]] = True
    return flags


def evaluate_boxes(
    predictions: Mapping[str, Boxes3D],
    ground_truth: Mapping[str, Boxes3D],
    class_names: Sequence[str],
    iou_thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    iou_fn: PairedIouFn = paired_box_iou_3d,
) -> dict:
    """Per-class AP and mAP of scored boxes against ground truth, scene by scene.

    Args:
        predictions: scene id -> boxes with ``scores``. Every key must be a scene of
            ``ground_truth``; a ground-truth scene without an entry has no detections.
        ground_truth: scene id -> boxes (scores ignored).
        class_names: the dataset's classes; labels index into it.
        iou_thresholds: thresholds ``t`` of the ``AP@t`` entries, each in ``[0, 1)``.
        iou_fn: IoU of box pairs ``([P, 7], [P, 7]) -> [P]``, evaluated on the same-class
            (prediction, ground truth) pairs of each scene; the exact oriented IoU by
            default.

    Returns:
        ``{"mAP@t": float, ..., "per_class": {name: {"AP@t": float, ..., "num_gt": int,
        "num_pred": int}}, "num_scenes": int}``, with ``t`` formatted by ``f"{t:g}"``
        (``0.25``, ``0.5``). Classes with neither ground truth nor predictions are left
        out; see the module docstring for NaN and empty-class handling.

    Example:
        >>> gt = {"s": Boxes3D(np.array([[0, 0, 0, 1, 1, 1, 0.0]]), np.array([0]))}
        >>> pred = {"s": Boxes3D(gt["s"].params, gt["s"].labels, np.array([0.9]))}
        >>> evaluate_boxes(pred, gt, ["chair"])["mAP@0.5"]
        1.0
    """
    thresholds = [float(t) for t in iou_thresholds]
    if not thresholds or any(not 0.0 <= t < 1.0 for t in thresholds):
        raise ValueError(f"iou_thresholds must be non-empty values in [0, 1), got {thresholds}")
    unknown = sorted(set(predictions) - set(ground_truth))
    if unknown:
        raise ValueError(
            f"predictions for {len(unknown)} scene(s) without ground truth: {unknown[:5]}"
        )
    for scene, boxes in predictions.items():
        _check_labels(boxes, len(class_names), f"predictions of scene {scene!r}")
        if boxes.scores is None:
            raise ValueError(f"predictions of scene {scene!r} have no scores")
    for scene, boxes in ground_truth.items():
        _check_labels(boxes, len(class_names), f"ground truth of scene {scene!r}")

    matches = _match_scenes(predictions, ground_truth, iou_fn)
    gt_counts = np.bincount(
        np.concatenate([g.labels for g in ground_truth.values()] + [np.zeros(0, np.int64)]),
        minlength=len(class_names),
    )
    per_class: dict[str, dict] = {}
    for label, name in enumerate(class_names):
        num_gt = int(gt_counts[label])
        mask = matches["labels"] == label
        if num_gt == 0 and not mask.any():
            continue
        order = np.argsort(-matches["scores"][mask], kind="stable")
        best_iou = matches["best_iou"][mask][order]
        best_gt = matches["best_gt"][mask][order]
        entry: dict = {}
        for t in thresholds:
            entry[f"AP@{t:g}"] = _class_ap(true_positive_flags(best_iou, best_gt, t), num_gt)
        entry["num_gt"] = num_gt
        entry["num_pred"] = int(mask.sum())
        per_class[name] = entry

    results: dict = {}
    for t in thresholds:
        aps = [c[f"AP@{t:g}"] for c in per_class.values() if c["num_gt"] > 0]
        results[f"mAP@{t:g}"] = float(np.mean(aps)) if aps else float("nan")
    results["per_class"] = per_class
    results["num_scenes"] = len(ground_truth)
    return results


def _check_labels(boxes: Boxes3D, num_classes: int, what: str) -> None:
    if len(boxes) and (boxes.labels.min() < 0 or boxes.labels.max() >= num_classes):
        raise ValueError(f"{what}: labels outside [0, {num_classes})")


def _class_ap(tp: np.ndarray, num_gt: int) -> float:
    if num_gt == 0:
        return float("nan")
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(~tp)
    recall = cum_tp / num_gt
    precision = cum_tp / np.maximum(cum_tp + cum_fp, np.finfo(np.float64).eps)
    return voc_average_precision(recall, precision)


def _match_scenes(
    predictions: Mapping[str, Boxes3D], ground_truth: Mapping[str, Boxes3D], iou_fn: PairedIouFn
) -> dict[str, np.ndarray]:
    """Best same-class ground truth of every detection, concatenated over sorted scenes."""
    labels, scores, best_iou, best_gt = [], [], [], []
    gt_offset = 0
    for scene in sorted(ground_truth):
        gt = ground_truth[scene]
        pred = predictions.get(scene)
        if pred is not None and len(pred):
            # -inf marks other-class pairs and the dummy column of a scene without ground
            # truth: never above a threshold, never preferred by argmax.
            iou = np.full((len(pred), max(len(gt), 1)), -np.inf)  # [P, G]
            ip, ig = np.nonzero(pred.labels[:, None] == gt.labels[None, :])
            iou[ip, ig] = iou_fn(pred.params[ip], gt.params[ig])
            best = np.argmax(iou, axis=1)  # first maximum, as the references' strict ">"
            best_iou.append(iou[np.arange(len(pred)), best])
            best_gt.append(best + gt_offset)
            labels.append(pred.labels)
            scores.append(pred.scores)
        gt_offset += len(gt)
    empty_f, empty_i = np.zeros(0), np.zeros(0, np.int64)
    return {
        "labels": np.concatenate(labels + [empty_i]),
        "scores": np.concatenate(scores + [empty_f]),
        "best_iou": np.concatenate(best_iou + [empty_f]),
        "best_gt": np.concatenate(best_gt + [empty_i]),
    }
