"""A ScanNet scene as the detection module sees it, and VoteNet's ground-truth box definition.

VoteNet (Qi et al., ICCV 2019, ``scannet/load_scannet_data.py`` and
``batch_load_scannet_data.py``) defines the ScanNet detection ground truth as follows,
and mmdetection3d (``data/scannet/``) keeps the definition:

* points are the vertices of ``*_vh_clean_2.ply``, transformed by the scene's
  ``axisAlignment`` matrix and stored as float32;
* each annotated instance gets the axis-aligned box spanned by the min/max of its aligned
  vertices, ``(cx, cy, cz, dx, dy, dz, nyu40_id)`` with ``c = (min + max) / 2`` and
  ``d = max - min`` evaluated in float32 on the float32 points;
* only instances whose NYU40 id is one of the 18 benchmark ids are kept
  (:data:`detection.data.classes.SCANNET_NYU40_IDS`), in increasing instance id.

:func:`instance_boxes` implements that definition once; both the raw-scan reader and the
tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int, UInt

from detection.data.boxes import Boxes3D, check_box_values
from detection.data.classes import NYU40_MAX, SCANNET_NYU40_IDS, SCANNET_NYU40_TO_CLASS


@dataclass(frozen=True)
class ScanNetScene:
    """One ScanNet scan: axis-aligned points, per-point labels, 18-class boxes.

    Attributes:
        scene_id: e.g. ``"scene0000_00"``.
        points: ``[N, 3]`` float32 xyz, axis-aligned (z up, walls along x/y).
        colors: ``[N, 3]`` float32 RGB in ``0..255`` (VoteNet keeps the mesh colours as floats).
        semantic_ids: ``[N]`` uint32 NYU40 id per point (0 = unannotated), or ``None``.
        instance_ids: ``[N]`` uint32 instance id per point, 1-based (0 = unannotated), or
            ``None``.
        boxes: ground-truth boxes, ``yaw = 0``, labels index
            :data:`~detection.data.classes.SCANNET_CLASSES`; ``None`` without annotations.
        box_instance_ids: ``[K]`` instance id of each box, or ``None`` when the source does
            not say (VoteNet's ``*_bbox.npy`` has no ids).
        axis_align_matrix: ``[4, 4]`` matrix that took the raw scan coordinates to
            ``points``, or ``None`` when the source was already aligned and does not carry it.
    """

    scene_id: str
    points: Float[np.ndarray, "N 3"]
    colors: Float[np.ndarray, "N 3"]
    semantic_ids: UInt[np.ndarray, " N"] | None = None
    instance_ids: UInt[np.ndarray, " N"] | None = None
    boxes: Boxes3D | None = None
    box_instance_ids: Int[np.ndarray, " K"] | None = None
    axis_align_matrix: Float[np.ndarray, "4 4"] | None = None


def instance_boxes(
    points: Float[np.ndarray, "N 3"],
    instance_ids: UInt[np.ndarray, " N"],
    semantic_ids: UInt[np.ndarray, " N"],
    instance_nyu40: dict[int, int] | None = None,
) -> tuple[Float[np.ndarray, "K 7"], Int[np.ndarray, " K"]]:
    """VoteNet's ground-truth boxes of the benchmark instances of a scene.

    Args:
        points: ``[N, 3]`` axis-aligned float32 points.
        instance_ids: ``[N]`` instance id per point (0 = none).
        semantic_ids: ``[N]`` NYU40 id per point.
        instance_nyu40: NYU40 id of each instance. VoteNet takes the label of the first
            vertex of the instance's first segment, which the raw reader knows; without it
            the id of the instance's first point (in point order) is used, which is the
            same for the preprocessed arrays.

    Returns:
        ``([K, 7] float64 rows (cx, cy, cz, dx, dy, dz, nyu40_id), [K] instance ids)``
        for the instances with at least one point whose NYU40 id is a benchmark class,
        sorted by instance id. This is exactly VoteNet's ``*_bbox.npy`` layout.
    """
    points = np.asarray(points, dtype=np.float32)
    order = np.argsort(instance_ids, kind="stable")
    ids_sorted = instance_ids[order]
    unique, starts = np.unique(ids_sorted, return_index=True)
    rows, kept = [], []
    for instance, members in zip(unique, np.split(order, starts[1:]), strict=True):
        if instance == 0:
            continue
        nyu40 = (
            instance_nyu40[int(instance)] if instance_nyu40 is not None
            else int(semantic_ids[members[0]])
        )
        if nyu40 not in SCANNET_NYU40_TO_CLASS:
            continue
        pts = points[members]
        lo, hi = pts.min(axis=0), pts.max(axis=0)  # float32, as VoteNet
        rows.append(np.concatenate([(lo + hi) / 2, hi - lo]).astype(np.float64).tolist() + [nyu40])
        kept.append(int(instance))
    return np.array(rows, dtype=np.float64).reshape(-1, 7), np.array(kept, dtype=np.int64)


def boxes_from_nyu40_rows(rows: Float[np.ndarray, "K 7"], source: str) -> Boxes3D:
    """``[K, 7]`` VoteNet rows ``(cx, cy, cz, dx, dy, dz, nyu40_id)`` -> :class:`Boxes3D`.

    Rows whose NYU40 id is not one of the 18 benchmark ids are dropped, which is the filter
    of VoteNet's ``batch_load_scannet_data.py``; files written by that script contain none.
    Every row is validated first, dropped or not: a NaN centre or an id of ``inf`` means the
    file is corrupt, not that the box is outside the benchmark.

    Raises:
        ValueError: naming ``source``, the row and the field for a wrong shape, a class id
            that is not an integer in ``0..NYU40_MAX``, a non-finite value or a negative size.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 7:
        raise ValueError(f"{source}: expected box rows of shape [K, 7], found {rows.shape}")
    nyu40 = rows[:, 6]
    bad = ~((nyu40 >= 0) & (nyu40 <= NYU40_MAX) & (nyu40 == np.round(nyu40)))  # NaN is bad
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{source}: row {k} class id (column 6): expected an integer NYU40 id "
                         f"in 0..{NYU40_MAX}, found {nyu40[k]}")
    params = np.concatenate([rows[:, :6], np.zeros((len(rows), 1))], axis=1)
    check_box_values(params, source)
    keep = np.isin(nyu40, SCANNET_NYU40_IDS)
    labels = np.array([SCANNET_NYU40_TO_CLASS[int(i)] for i in nyu40[keep]], dtype=np.int64)
    return Boxes3D(params[keep], labels)
