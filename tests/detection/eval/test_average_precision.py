"""VOC AP and mAP against hand-computed cases and a brute-force sequential reference written
here from the VoteNet / PASCAL VOC description."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detection.data.boxes import Boxes3D
from detection.eval.average_precision import (
    evaluate_boxes,
    true_positive_flags,
    voc_average_precision,
)
from detection.eval.iou3d import box_iou_3d

CLASSES = ("a", "b", "c")


def box(x: float, y: float = 0.0, z: float = 0.0, dx: float = 1.0, dy: float = 1.0,
        dz: float = 1.0, yaw: float = 0.0) -> list[float]:
    return [x, y, z, dx, dy, dz, yaw]


def boxes(rows, labels, scores=None) -> Boxes3D:
    return Boxes3D(np.array(rows, dtype=float).reshape(-1, 7), np.array(labels, dtype=np.int64),
                   None if scores is None else np.array(scores, dtype=float))


# ----------------------------------------------------------------- brute-force reference
def reference_iou(p: np.ndarray, g: np.ndarray) -> float:
    """Axis-aligned IoU of two boxes, one pair at a time (yaw ignored)."""
    inter = 1.0
    for k in range(3):
        lo = max(p[k] - p[3 + k] / 2, g[k] - g[3 + k] / 2)
        hi = min(p[k] + p[3 + k] / 2, g[k] + g[3 + k] / 2)
        inter *= max(hi - lo, 0.0)
    return inter / (np.prod(p[3:6]) + np.prod(g[3:6]) - inter)


def reference_class_ap(preds, gts, label, threshold) -> float:
    """Sequential VOC matching for one class, as in VoteNet's eval_det_cls."""
    dets = [(float(b.scores[i]), scene, b.params[i]) for scene, b in sorted(preds.items())
            for i in range(len(b)) if b.labels[i] == label]
    dets.sort(key=lambda d: -d[0])  # Python's sort is stable, like ours
    gt = {scene: [g.params[i] for i in range(len(g)) if g.labels[i] == label]
          for scene, g in gts.items()}
    used = {scene: [False] * len(v) for scene, v in gt.items()}
    npos = sum(len(v) for v in gt.values())
    tp, fp = [], []
    for _, scene, p in dets:
        best, jbest = -math.inf, -1
        for j, g in enumerate(gt[scene]):
            iou = reference_iou(p, g)
            if iou > best:
                best, jbest = iou, j
        if best > threshold and not used[scene][jbest]:
            used[scene][jbest] = True
            tp.append(1.0)
            fp.append(0.0)
        else:
            tp.append(0.0)
            fp.append(1.0)
    if npos == 0:
        return math.nan
    ctp, cfp = np.cumsum(tp), np.cumsum(fp)
    rec = list(ctp / npos)
    prec = list(ctp / np.maximum(ctp + cfp, np.finfo(float).eps))
    mrec, mpre = [0.0] + rec + [1.0], [0.0] + prec + [0.0]
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1)
               if mrec[i + 1] != mrec[i])


def random_scenario(rng: np.random.Generator, num_scenes: int):
    """GT boxes on a grid plus jittered / duplicated / spurious detections, few classes."""
    gts, preds = {}, {}
    for s in range(num_scenes):
        n_gt = int(rng.integers(0, 6))
        g = np.array([box(2.0 * i, dx=rng.uniform(0.5, 1.5)) for i in range(n_gt)]).reshape(-1, 7)
        g_labels = rng.integers(0, len(CLASSES), n_gt)
        rows, labels = [], []
        for i in range(n_gt):
            for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 detections per object
                jitter = np.concatenate([rng.normal(0, 0.25, 3), rng.normal(0, 0.15, 3), [0.0]])
                rows.append(g[i] + jitter)
                labels.append(g_labels[i] if rng.random() < 0.85 else rng.integers(0, 3))
        for _ in range(int(rng.integers(0, 3))):  # spurious
            rows.append(box(rng.uniform(-2, 10), rng.uniform(-2, 2)))
            labels.append(rng.integers(0, len(CLASSES)))
        p = np.array(rows).reshape(-1, 7)
        p[:, 3:6] = np.abs(p[:, 3:6])
        scores = np.round(rng.random(len(rows)), 1)  # coarse scores: plenty of ties
        gts[f"scene{s:02d}"] = boxes(g, g_labels)
        preds[f"scene{s:02d}"] = boxes(p, labels, scores)
    return preds, gts


# ---------------------------------------------------------------------------- tests
def test_voc_ap_hand_computed():
    # recall 0.5 at precision 1, then recall 1 at precision 2/3: 0.5 * 1 + 0.5 * 2/3
    assert voc_average_precision(np.array([0.5, 0.5, 1.0]), np.array([1, 0.5, 2 / 3])) == \
        pytest.approx(5 / 6)
    # the envelope lifts the dip: precision 0.5 at recall 0.5 becomes 2/3
    assert voc_average_precision(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 2 / 3])) == \
        pytest.approx(2 / 3)
    assert voc_average_precision(np.zeros(0), np.zeros(0)) == 0.0


def test_duplicate_detection_is_false_positive():
    gt = {"s": boxes([box(0), box(5)], [0, 0])}
    pred = {"s": boxes([box(0), box(0.05), box(5)], [0, 0, 0], [0.9, 0.8, 0.7])}
    res = evaluate_boxes(pred, gt, CLASSES)
    expected = {"AP@0.25": pytest.approx(5 / 6), "AP@0.5": pytest.approx(5 / 6),
                "num_gt": 2, "num_pred": 3}
    assert res["per_class"]["a"] == expected


def test_threshold_is_strict():
    outer = box(0, dx=2.0)
    half = box(0.5, dx=1.0)  # inside outer: IoU exactly 1/2
    quarter = box(0.5, dx=0.5)  # IoU exactly 1/4
    gt = {"s": boxes([outer], [0])}
    assert box_iou_3d(np.array([half]), np.array([outer]))[0, 0] == 0.5
    res = evaluate_boxes({"s": boxes([half], [0], [1.0])}, gt, CLASSES)
    assert (res["mAP@0.25"], res["mAP@0.5"]) == (1.0, 0.0)
    res = evaluate_boxes({"s": boxes([quarter], [0], [1.0])}, gt, CLASSES)
    assert (res["mAP@0.25"], res["mAP@0.5"]) == (0.0, 0.0)


def test_best_gt_already_matched_gives_false_positive_without_fallback():
    g1, g2 = box(0), box(1.2)
    d1 = box(0)  # matches g1
    d2 = box(0.45)  # IoU 0.38 with g1 (best), 0.14 with g2
    pred = {"s": boxes([d1, d2], [0, 0], [0.9, 0.8])}
    res = evaluate_boxes(pred, {"s": boxes([g1, g2], [0, 0])}, CLASSES, iou_thresholds=[0.05])
    assert res["mAP@0.05"] == pytest.approx(0.5)  # d2 is a FP: recall stays at 1/2


def test_matching_is_per_scene_and_per_class():
    gt = {"s1": boxes([box(0)], [0]), "s2": boxes([box(0)], [1])}
    pred = {"s1": boxes([box(0)], [1], [0.9]), "s2": boxes([box(0)], [1], [0.8])}
    res = evaluate_boxes(pred, gt, CLASSES)
    assert res["per_class"]["a"] == {"AP@0.25": 0.0, "AP@0.5": 0.0, "num_gt": 1, "num_pred": 0}
    # class b: the s1 detection (higher score) is a FP, the s2 one a TP: AP = 1/2
    assert res["per_class"]["b"]["AP@0.25"] == pytest.approx(0.5)
    assert res["mAP@0.25"] == pytest.approx(0.25)
    assert "c" not in res["per_class"]


def test_class_with_predictions_but_no_ground_truth_is_nan_and_left_out_of_map():
    gt = {"s": boxes([box(0)], [0])}
    pred = {"s": boxes([box(0), box(3)], [0, 2], [0.9, 0.8])}
    res = evaluate_boxes(pred, gt, CLASSES)
    assert math.isnan(res["per_class"]["c"]["AP@0.25"])
    assert res["per_class"]["c"]["num_gt"] == 0
    assert res["mAP@0.25"] == 1.0


def test_no_ground_truth_at_all_gives_nan_map_and_empty_inputs_are_fine():
    res = evaluate_boxes({}, {"s": Boxes3D.empty()}, CLASSES)
    assert math.isnan(res["mAP@0.25"]) and res["per_class"] == {} and res["num_scenes"] == 1
    res = evaluate_boxes({}, {"s": boxes([box(0)], [1])}, CLASSES)
    assert res["mAP@0.5"] == 0.0 and res["per_class"]["b"]["num_pred"] == 0


def test_score_ties_keep_input_order():
    gt = {"s": boxes([box(0)], [0])}
    fp_first = {"s": boxes([box(9), box(0)], [0, 0], [0.5, 0.5])}
    tp_first = {"s": boxes([box(0), box(9)], [0, 0], [0.5, 0.5])}
    assert evaluate_boxes(fp_first, gt, CLASSES)["mAP@0.25"] == pytest.approx(0.5)
    assert evaluate_boxes(tp_first, gt, CLASSES)["mAP@0.25"] == 1.0


def test_true_positive_flags_closed_form():
    best_iou = np.array([0.9, 0.3, 0.8, -np.inf, 0.6])
    best_gt = np.array([0, 0, 0, 1, 2])
    np.testing.assert_array_equal(true_positive_flags(best_iou, best_gt, 0.5),
                                  [True, False, False, False, True])
    np.testing.assert_array_equal(true_positive_flags(best_iou, best_gt, 0.25),
                                  [True, False, False, False, True])


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    preds, gts = random_scenario(rng, num_scenes=int(rng.integers(1, 7)))
    thresholds = (0.1, 0.25, 0.5, 0.7)
    res = evaluate_boxes(preds, gts, CLASSES, iou_thresholds=thresholds)
    for label, name in enumerate(CLASSES):
        expected = [reference_class_ap(preds, gts, label, t) for t in thresholds]
        if name not in res["per_class"]:
            assert all(math.isnan(e) or e == 0 for e in expected)
            continue
        got = [res["per_class"][name][f"AP@{t:g}"] for t in thresholds]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_rejects_bad_inputs():
    gt = {"s": boxes([box(0)], [0])}
    with pytest.raises(ValueError, match="without ground truth"):
        evaluate_boxes({"t": boxes([box(0)], [0], [1.0])}, gt, CLASSES)
    with pytest.raises(ValueError, match="no scores"):
        evaluate_boxes({"s": boxes([box(0)], [0])}, gt, CLASSES)
    with pytest.raises(ValueError, match=r"labels outside \[0, 3\)"):
        evaluate_boxes({"s": boxes([box(0)], [3], [1.0])}, gt, CLASSES)
    with pytest.raises(ValueError, match="iou_thresholds"):
        evaluate_boxes({}, gt, CLASSES, iou_thresholds=[1.0])
