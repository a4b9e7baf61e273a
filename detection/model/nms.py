"""Greedy 3D non-maximum suppression, per class, with the evaluation's exact IoU.

Greedy NMS (as in every detector since R-CNN): visit boxes by decreasing score; keep a box
unless it overlaps an already kept box of the same class with IoU above the threshold.
The IoU matrix of each class comes from :mod:`detection.eval.iou3d` - the exact oriented
IoU (BEV polygon clip x height overlap) or, when every yaw is known to be 0, the closed-form
axis-aligned IoU - so NMS and evaluation agree on what "overlap" means. Detections per
class are few (the detector keeps a bounded top-k before NMS), so a full ``[n, n]`` matrix
per class is cheap; the greedy pass is one vector operation per kept box.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from detection.eval.iou3d import box_iou_3d, box_iou_3d_axis_aligned


def nms_3d(
    boxes: Float[np.ndarray, "K 7"],
    scores: Float[np.ndarray, " K"],
    labels: Int[np.ndarray, " K"],
    iou_threshold: float,
    rotated: bool = True,
) -> Int[np.ndarray, " M"]:
    """Indices of the boxes greedy per-class NMS keeps, by decreasing score.

    Args:
        boxes: ``[K, 7]`` boxes ``(cx, cy, cz, dx, dy, dz, yaw)``.
        scores: ``[K]`` confidences.
        labels: ``[K]`` class indices; boxes of different classes never suppress each other.
        iou_threshold: a box is suppressed when its IoU with a kept box is ``> iou_threshold``.
        rotated: use the exact oriented IoU; ``False`` ignores yaw (axis-aligned boxes).

    Example:
        >>> b = np.array([[0, 0, 0, 1, 1, 1, 0], [0.1, 0, 0, 1, 1, 1, 0], [3, 0, 0, 1, 1, 1, 0]])
        >>> nms_3d(b, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]), 0.5).tolist()
        [0, 2]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if not scores.shape == labels.shape == (boxes.shape[0],):
        raise ValueError(
            f"nms_3d: boxes {boxes.shape}, scores {scores.shape} and labels {labels.shape} "
            "must describe the same number of boxes"
        )
    iou_fn = box_iou_3d if rotated else box_iou_3d_axis_aligned
    kept: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.nonzero(labels == label)[0]
        members = members[np.argsort(-scores[members], kind="stable")]
        iou = iou_fn(boxes[members], boxes[members])  # [n, n]
        alive = np.ones(len(members), dtype=bool)
        for i in range(len(members)):
            if alive[i]:
                alive[i + 1 :] &= iou[i, i + 1 :] <= iou_threshold
        kept.append(members[alive])
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")]
