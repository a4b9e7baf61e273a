"""Per-class greedy 3D NMS against a brute-force greedy loop over box pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detection.eval import box_iou_3d
from detection.model.nms import nms_3d


def _reference(boxes, scores, labels, threshold, rotated):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        ok = True
        for j in kept:
            if labels[i] != labels[j]:
                continue
            a, b = boxes[i:i + 1].copy(), boxes[j:j + 1].copy()
            if not rotated:
                a[:, 6] = b[:, 6] = 0
            if box_iou_3d(a, b)[0, 0] > threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


@pytest.mark.parametrize("rotated", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_bruteforce_greedy(rotated, seed):
    rng = np.random.default_rng(seed)
    n = 60
    boxes = np.c_[rng.uniform(0, 3, (n, 3)), rng.uniform(0.3, 1.2, (n, 3)),
                  rng.uniform(-math.pi / 2, math.pi / 2, n) if rotated else np.zeros(n)]
    scores = rng.permutation(n) / n  # distinct scores: the order is unambiguous
    labels = rng.integers(0, 3, n)
    for threshold in (0.1, 0.25, 0.5):
        keep = nms_3d(boxes, scores, labels, threshold, rotated=rotated)
        assert keep.tolist() == _reference(boxes, scores, labels, threshold, rotated)


def test_nms_edge_cases():
    empty = nms_3d(np.zeros((0, 7)), np.zeros(0), np.zeros(0, np.int64), 0.5)
    assert empty.shape == (0,)
    same = np.array([[0, 0, 0, 1, 1, 1, 0.0]] * 2)
    assert nms_3d(same, np.array([0.2, 0.9]), np.array([0, 1]), 0.5).tolist() == [1, 0]
    assert nms_3d(same, np.array([0.2, 0.9]), np.array([0, 0]), 0.5).tolist() == [1]
    with pytest.raises(ValueError, match="same number"):
        nms_3d(same, np.array([0.2]), np.array([0, 0]), 0.5)
