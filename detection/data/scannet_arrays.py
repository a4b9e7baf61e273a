"""Reader of ScanNet scenes preprocessed into NumPy arrays by VoteNet or mmdetection3d.

Files per scene, in one folder (``<id>`` is e.g. ``scene0000_00``):

======================================  =====================================================
``<id>_vert.npy`` / ``<id>_vert_all.npy``  float32 ``[N, 6]`` xyz rgb. VoteNet: axis-aligned,
                                        50k-point sample / all vertices. mmdetection3d:
                                        *not* aligned (see the matrix file below).
``<id>_sem_label[_all].npy``            ``[N]`` NYU40 id per point (0 = unannotated).
``<id>_ins_label[_all].npy``            ``[N]`` instance id per point (0 = unannotated).
``<id>_bbox.npy``                       VoteNet ``[K, 7]`` aligned boxes ``cx cy cz dx dy dz
                                        nyu40_id``.
``<id>_aligned_bbox.npy``               mmdetection3d's name for the same rows.
``<id>_bbox_idx.npy``                   optional ``[K]`` instance id of each box row.
``<id>_axis_align_matrix.npy``          mmdetection3d only: ``[4, 4]`` alignment of the points.
======================================  =====================================================

Every file is read by :func:`read_npy`, which refuses anything but a plain numeric ``.npy``
array (pickled object arrays, ``.npz`` archives, truncated or padded files) before reading the
data, then each array is checked for its shape, integer labels and finite values, so a
corrupt file is a one-line ``ValueError`` naming it and the field, never a traceback.

Sources: VoteNet (Qi et al., ICCV 2019) ``scannet/batch_load_scannet_data.py``;
mmdetection3d ``data/scannet/batch_load_scannet_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detection.data.boxes import Boxes3D
from detection.data.classes import SCANNET_NYU40_IDS
from detection.data.scannet_scene import ScanNetScene, boxes_from_nyu40_rows
from splat3d.npyfile import read_npy

_BOX_SUFFIXES = ("_bbox.npy", "_aligned_bbox.npy")


def list_scannet_array_scenes(folder: str | Path) -> list[str]:
    """Scene ids with a box file (``*_bbox.npy`` or ``*_aligned_bbox.npy``) in ``folder``."""
    folder = Path(folder)
    scenes = set()
    for suffix in _BOX_SUFFIXES:
        for path in folder.glob(f"*{suffix}"):
            stem = path.name[: -len(suffix)]
            if suffix == "_bbox.npy" and stem.endswith("_aligned"):
                continue  # "<id>_aligned_bbox.npy" also ends with "_bbox.npy"
            if not stem.endswith("_unaligned"):
                scenes.add(stem)
    return sorted(scenes)


def load_scannet_array_boxes(folder: str | Path, scene_id: str) -> Boxes3D:
    """The 18-class ground-truth boxes of one scene (``yaw = 0``).

    Raises:
        FileNotFoundError: when neither ``<id>_bbox.npy`` nor ``<id>_aligned_bbox.npy`` exists.
        ValueError: naming the file for a wrong array shape.
    """
    path = _box_file(Path(folder), scene_id)
    return boxes_from_nyu40_rows(read_npy(path), str(path))


def load_scannet_array_scene(folder: str | Path, scene_id: str) -> ScanNetScene:
    """Points, per-point labels and boxes of one preprocessed scene.

    The full-resolution ``*_all.npy`` arrays are used when present, else the sampled ones;
    labels must come with the same suffix as the points. When an mmdetection3d
    ``<id>_axis_align_matrix.npy`` exists the points are aligned with it, so that points and
    boxes share the axis-aligned frame either way. Label and box files are optional (test
    scans have none): the matching fields are then ``None``.

    Raises:
        FileNotFoundError: when no point file exists for ``scene_id``.
        ValueError: naming the file for wrong shapes or point/label count mismatches.
    """
    folder = Path(folder)
    suffix = "_all" if (folder / f"{scene_id}_vert_all.npy").exists() else ""
    vert_path = folder / f"{scene_id}_vert{suffix}.npy"
    if not vert_path.exists():
        raise FileNotFoundError(f"no {scene_id}_vert.npy or {scene_id}_vert_all.npy in {folder}")
    vertices = read_npy(vert_path)
    if vertices.ndim != 2 or vertices.shape[1] < 6:
        raise ValueError(f"{vert_path}: expected [N, 6] xyz rgb, found {vertices.shape}")
    matrix = None
    matrix_path = folder / f"{scene_id}_axis_align_matrix.npy"
    if matrix_path.exists():
        matrix = read_npy(matrix_path).astype(np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"{matrix_path}: expected a [4, 4] matrix, found {matrix.shape}")
        _check_finite(matrix, matrix_path, "matrix")
    # Values are checked as stored: a finite float64 beyond 3.4e38 (or one the matrix scales
    # there) is inf in float32, which the checks below report instead of numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        points = vertices[:, :3].astype(np.float32)
        colors = vertices[:, 3:6].astype(np.float32)
        if matrix is not None:
            points = (points.astype(np.float64) @ matrix[:3, :3].T
                      + matrix[:3, 3]).astype(np.float32)
    _check_finite(colors, vert_path, "rgb")
    _check_finite(points, vert_path, "xyz (float32, aligned)")

    labels = {}
    for name in ("sem_label", "ins_label"):
        path = folder / f"{scene_id}_{name}{suffix}.npy"
        if path.exists():
            values = read_npy(path)
            if values.shape != (len(points),):
                raise ValueError(
                    f"{path}: expected [{len(points)}] labels to match {vert_path.name}, "
                    f"found {values.shape}"
                )
            labels[name] = _check_ids(values, path, name).astype(np.uint32)

    boxes, box_ids = None, None
    if any((folder / f"{scene_id}{s}").exists() for s in _BOX_SUFFIXES):
        box_path = _box_file(folder, scene_id)
        rows = read_npy(box_path)
        boxes = boxes_from_nyu40_rows(rows, str(box_path))
        idx_path = folder / f"{scene_id}_bbox_idx.npy"
        if idx_path.exists():
            ids = read_npy(idx_path)
            if ids.shape != (len(rows),):
                raise ValueError(f"{idx_path}: expected [{len(rows)}] ids, found {ids.shape}")
            _check_ids(ids, idx_path, "instance id")
            box_ids = ids[np.isin(rows[:, 6], SCANNET_NYU40_IDS)].astype(np.int64)

    return ScanNetScene(
        scene_id=scene_id,
        points=points,
        colors=colors,
        semantic_ids=labels.get("sem_label"),
        instance_ids=labels.get("ins_label"),
        boxes=boxes,
        box_instance_ids=box_ids,
        axis_align_matrix=matrix,
    )


def _box_file(folder: Path, scene_id: str) -> Path:
    for suffix in _BOX_SUFFIXES:
        path = folder / f"{scene_id}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no {scene_id}_bbox.npy or {scene_id}_aligned_bbox.npy in {folder}")


_ID_MAX = 2**32 - 1  # labels and ids are stored as uint32 by VoteNet


def _check_finite(values: np.ndarray, path: Path, field: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: {field} at index {index} is {values[index]}; expected "
                         "finite numbers")


def _check_ids(values: np.ndarray, path: Path, field: str) -> np.ndarray:
    """``values`` if every entry is a whole number in ``0..2**32-1`` (uint32 ids)."""
    as_float = values.astype(np.float64)  # one comparison for bool, int and float files
    bad = ~((as_float >= 0) & (as_float <= _ID_MAX) & (as_float == np.round(as_float)))
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{path}: {field} at index {k} is {values[k]}; expected an integer "
                         f"in 0..{_ID_MAX}")
    return values
