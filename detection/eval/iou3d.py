"""Exact 3D intersection-over-union of axis-aligned and yaw-oriented boxes.

Boxes are ``(cx, cy, cz, dx, dy, dz, yaw)`` as documented in :mod:`detection.data.boxes`.
For boxes that only rotate about the vertical axis the intersection volume factorises into
the bird's-eye-view (BEV) intersection area of two rectangles times the overlap of the two
height intervals; this is how VoteNet (``utils/box_util.py: box3d_iou``) and mmdetection3d
(``DepthInstance3DBoxes.overlaps``) define 3D IoU for indoor benchmarks.

The BEV intersection of two convex polygons is computed by Sutherland–Hodgman clipping
(Sutherland & Hodgman, "Reentrant polygon clipping", CACM 1974): box ``a``'s rectangle is
expressed in box ``b``'s frame, where ``b`` is the axis-aligned rectangle
``[-dx/2, dx/2] x [-dy/2, dy/2]``, and clipped against its four half-planes. The clip is
vectorised over all box pairs: each polygon lives in a fixed number of vertex slots plus a
vertex count, and every clipping step emits, per input edge, at most two candidate
vertices (the crossing point, then the kept end point) that are compacted in order. No
vertex is ever dropped: the slot count grows to the largest polygon in the batch. The
result is exact up to float64 rounding.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from detection.data.boxes import BOX_DIM, bev_corners

_PAIR_CHUNK = 1 << 16  # pairs clipped at once; bounds the temporary memory to ~50 MB


def box_iou_3d(
    boxes_a: Float[np.ndarray, "N 7"], boxes_b: Float[np.ndarray, "M 7"]
) -> Float[np.ndarray, "N M"]:
    """Pairwise exact 3D IoU of yaw-oriented boxes, every ``a`` against every ``b``.

    Args:
        boxes_a: ``[N, 7]`` boxes ``(cx, cy, cz, dx, dy, dz, yaw)``.
        boxes_b: ``[M, 7]`` boxes, same layout.

    Returns:
        ``[N, M]`` float64 IoU in ``[0, 1]``. A pair whose union has zero volume (two
        degenerate boxes) has IoU 0.

    Example:
        >>> a = np.array([[0, 0, 0, 2, 2, 2, 0.0]])
        >>> b = np.array([[1, 0, 0, 2, 2, 2, np.pi / 2]])
        >>> float(box_iou_3d(a, b)[0, 0])  # half of each box overlaps: 4 / (8 + 8 - 4)
        0.3333333333333333
    """
    a, b = _as_boxes(boxes_a, "boxes_a"), _as_boxes(boxes_b, "boxes_b")
    ia, ib = np.nonzero(_may_intersect(a[:, None], b[None, :]))  # [N, M] -> candidate pairs
    iou = np.zeros((a.shape[0], b.shape[0]))
    iou[ia, ib] = _oriented_iou_of_pairs(a[ia], b[ib])
    return iou


def paired_box_iou_3d(
    boxes_a: Float[np.ndarray, "P 7"], boxes_b: Float[np.ndarray, "P 7"]
) -> Float[np.ndarray, " P"]:
    """Exact 3D IoU of ``a[p]`` with ``b[p]`` for each ``p`` (the diagonal of
    :func:`box_iou_3d`, without computing the rest)."""
    a, b = _as_paired_boxes(boxes_a, boxes_b)
    (candidates,) = np.nonzero(_may_intersect(a, b))
    iou = np.zeros(a.shape[0])
    iou[candidates] = _oriented_iou_of_pairs(a[candidates], b[candidates])
    return iou


def box_iou_3d_axis_aligned(
    boxes_a: Float[np.ndarray, "N 7"], boxes_b: Float[np.ndarray, "M 7"]
) -> Float[np.ndarray, "N M"]:
    """Pairwise 3D IoU of boxes whose yaw is ignored (treated as 0).

    The intersection of two axis-aligned boxes is the product of three interval overlaps;
    VoteNet's ``utils/metric_util.py: calc_iou`` computes the same quantity from min/max
    corners. A closed-form reference for the tests, and a shortcut for callers that know
    every yaw is 0 (all ScanNet ground truth).
    """
    a, b = _as_boxes(boxes_a, "boxes_a"), _as_boxes(boxes_b, "boxes_b")
    return _axis_aligned_iou(a[:, None], b[None, :])


def paired_box_iou_3d_axis_aligned(
    boxes_a: Float[np.ndarray, "P 7"], boxes_b: Float[np.ndarray, "P 7"]
) -> Float[np.ndarray, " P"]:
    """:func:`box_iou_3d_axis_aligned` of ``a[p]`` with ``b[p]`` for each ``p``."""
    return _axis_aligned_iou(*_as_paired_boxes(boxes_a, boxes_b))


def bev_intersection_area(
    boxes_a: Float[np.ndarray, "P 7"], boxes_b: Float[np.ndarray, "P 7"]
) -> Float[np.ndarray, " P"]:
    """Area of the BEV intersection of box ``a[p]`` with box ``b[p]``, for each pair ``p``.

    Sutherland–Hodgman clipping of ``a``'s rectangle against ``b``'s, both vectorised over
    the ``P`` pairs (see the module docstring).
    """
    corners = bev_corners(boxes_a) - boxes_b[:, None, 0:2]  # [P, 4, 2], relative to b
    c, s = np.cos(boxes_b[:, 6])[:, None], np.sin(boxes_b[:, 6])[:, None]
    local = np.stack(  # rotate by -yaw_b: b becomes axis-aligned and centred
        [c * corners[..., 0] + s * corners[..., 1], -s * corners[..., 0] + c * corners[..., 1]],
        axis=-1,
    )
    count = np.full(local.shape[0], 4)
    half = boxes_b[:, 3:5] / 2  # [P, 2]
    for axis in (0, 1):
        for sign in (1.0, -1.0):
            inside = half[:, axis, None] - sign * local[..., axis]  # [P, V], >= 0 is kept
            local, count = _clip_half_plane(local, count, inside)
    return polygon_area(local, count)


def polygon_area(
    vertices: Float[np.ndarray, "P V 2"], count: np.ndarray
) -> Float[np.ndarray, " P"]:
    """Shoelace area of ``P`` simple polygons stored in the first ``count[p]`` slots."""
    slots = np.arange(vertices.shape[1])
    valid = slots[None, :] < count[:, None]
    nxt = np.where(slots[None, :] + 1 < count[:, None], slots[None, :] + 1, 0)
    x, y = vertices[..., 0], vertices[..., 1]
    x_next = np.take_along_axis(x, nxt, axis=1)
    y_next = np.take_along_axis(y, nxt, axis=1)
    cross = np.where(valid, x * y_next - x_next * y, 0.0)
    return np.abs(cross.sum(axis=1)) / 2


def _clip_half_plane(
    vertices: np.ndarray, count: np.ndarray, inside: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One Sutherland–Hodgman step: keep the part of each polygon where ``inside >= 0``.

    ``inside[p, i]`` is the signed distance of vertex ``i`` of polygon ``p`` to the clip
    line (positive inside). For the edge from the previous vertex to vertex ``i`` the step
    emits the crossing point if the edge crosses the line, then vertex ``i`` if it is
    inside; concatenating these per-edge outputs in edge order is the clipped polygon.
    """
    num_pairs, num_slots = inside.shape
    slots = np.arange(num_slots)[None, :]
    valid = slots < count[:, None]
    prev = np.where(slots == 0, np.maximum(count[:, None] - 1, 0), slots - 1)
    prev_vertices = np.take_along_axis(vertices, prev[..., None], axis=1)
    prev_inside = np.take_along_axis(inside, prev, axis=1)
    keep = inside >= 0
    crosses = valid & (keep != (prev_inside >= 0))
    denom = np.where(crosses, prev_inside - inside, 1.0)
    t = np.where(crosses, prev_inside / denom, 0.0)[..., None]
    crossing = prev_vertices + t * (vertices - prev_vertices)
    candidates = np.stack([crossing, vertices], axis=2).reshape(num_pairs, 2 * num_slots, 2)
    emitted = np.stack([crosses, valid & keep], axis=2).reshape(num_pairs, 2 * num_slots)
    order = np.argsort(~emitted, axis=1, kind="stable")  # emitted first, order preserved
    new_count = emitted.sum(axis=1)
    new_slots = max(int(new_count.max(initial=0)), 1)
    order = order[:, :new_slots]
    return np.take_along_axis(candidates, order[..., None], axis=1), new_count


def _may_intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs (broadcasting over leading dims) whose height intervals overlap and whose BEV
    circumscribed circles meet; all other pairs have zero intersection."""
    height = _interval_overlap(a[..., 2], a[..., 5], b[..., 2], b[..., 5])
    reach = (np.hypot(a[..., 3], a[..., 4]) + np.hypot(b[..., 3], b[..., 4])) / 2
    return (height > 0) & (np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1]) <= reach)


def _oriented_iou_of_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[p]`` with ``b[p]``: BEV clipping area times height overlap, in chunks."""
    inter = np.zeros(a.shape[0])
    for start in range(0, a.shape[0], _PAIR_CHUNK):
        chunk = slice(start, start + _PAIR_CHUNK)
        ca, cb = a[chunk], b[chunk]
        height = _interval_overlap(ca[:, 2], ca[:, 5], cb[:, 2], cb[:, 5])
        inter[chunk] = bev_intersection_area(ca, cb) * height
    return _iou_from_intersection(inter, a, b)


def _axis_aligned_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.ones(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]))
    for axis in range(3):
        inter = inter * _interval_overlap(a[..., axis], a[..., 3 + axis], b[..., axis],
                                          b[..., 3 + axis])
    return _iou_from_intersection(inter, a, b)


def _interval_overlap(
    centre_a: np.ndarray, size_a: np.ndarray, centre_b: np.ndarray, size_b: np.ndarray
) -> np.ndarray:
    """Length of the overlap of ``[c - s/2, c + s/2]`` intervals (broadcasting)."""
    lo = np.maximum(centre_a - size_a / 2, centre_b - size_b / 2)
    hi = np.minimum(centre_a + size_a / 2, centre_b + size_b / 2)
    return np.clip(hi - lo, 0.0, None)


def _iou_from_intersection(inter: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``inter / (vol_a + vol_b - inter)`` with 0 for an empty union (broadcasting)."""
    union = np.prod(a[..., 3:6], axis=-1) + np.prod(b[..., 3:6], axis=-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _as_paired_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_boxes(boxes_a, "boxes_a"), _as_boxes(boxes_b, "boxes_b")
    if a.shape != b.shape:
        raise ValueError(f"paired IoU needs as many boxes_a as boxes_b: {a.shape} vs {b.shape}")
    return a, b


def _as_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != BOX_DIM:
        raise ValueError(f"{name} must have shape [K, 7], found {boxes.shape}")
    if (boxes[:, 3:6] < 0).any():
        raise ValueError(f"{name} has negative sizes (columns 3:6)")
    return boxes
