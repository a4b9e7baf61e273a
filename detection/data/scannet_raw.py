"""Reader of raw ScanNet v2 scans, producing exactly VoteNet's preprocessed ground truth.

A scan folder ``<id>/`` (Dai et al., "ScanNet", CVPR 2017) holds:

* ``<id>_vh_clean_2.ply`` - the cleaned, decimated mesh; its vertices (x y z red green blue)
  are the points;
* ``<id>_vh_clean_2.0.010000.segs.json`` - ``segIndices``: one over-segment id per vertex;
* ``<id>.aggregation.json`` - ``segGroups``: the annotated objects, each with an
  ``objectId`` (0-based), a raw ``label`` and the list of its ``segments``;
* ``<id>.txt`` - scan metadata whose ``axisAlignment = m00 m01 ... m33`` line is the
  row-major 4x4 matrix that aligns the scan with the axes (absent for test scans: identity).

Raw labels go to NYU40 ids through the official ``scannetv2-labels.combined.tsv``
(``raw_category`` -> ``nyu40id``), whose path is an argument.

The label semantics follow VoteNet's ``scannet/load_scannet_data.py`` (Qi et al., ICCV 2019)
step for step, because the boxes of the benchmark are defined by it:

1. instance ids are ``objectId + 1``; 0 means unannotated;
2. per-vertex NYU40 ids are painted label by label, in order of each raw label's first
   appearance in ``segGroups`` (a later label overwrites a shared segment);
3. per-vertex instance ids are painted object by object, in ``segGroups`` order;
4. an object's NYU40 id is the painted id of the first vertex of its first segment;
5. boxes are :func:`detection.data.scannet_scene.instance_boxes` of the float32 aligned
   points (float64 alignment, then a float32 cast, as VoteNet stores them).

Two cases where VoteNet fails with an exception get a defined answer here: an object
whose ``segments`` list is empty gets no box, and a missing ``axisAlignment`` line means
the identity (mmdetection3d's choice for test scans). Unknown raw labels and segments
missing from the segment file raise :class:`ValueError` naming the file, as does any
malformed field (a non-integer segment id, a non-finite alignment matrix, ...).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from detection.data.json_fields import field, integer, integers, json_object, shown, string
from detection.data.scannet_scene import ScanNetScene, boxes_from_nyu40_rows, instance_boxes
from splat3d.fileio import read_json
from splat3d.io.ply import read_ply


def read_label_map(tsv_path: str | Path) -> dict[str, int]:
    """``raw_category -> nyu40id`` from ``scannetv2-labels.combined.tsv``.

    Raises:
        ValueError: naming the file when a column is missing or an id is not an integer.
    """
    tsv_path = Path(tsv_path)
    mapping: dict[str, int] = {}
    try:
        with open(tsv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t")
            missing = {"raw_category", "nyu40id"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{tsv_path}: missing column(s) {sorted(missing)}")
            for row in reader:
                raw, nyu40 = row["raw_category"], row["nyu40id"]
                try:
                    mapping[raw] = int(nyu40)
                except (TypeError, ValueError):  # None: a row with too few columns
                    raise ValueError(f"{tsv_path}:{reader.line_num}: nyu40id {nyu40!r} is not "
                                     "an integer") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{tsv_path}: not a UTF-8 text file ({err.reason})") from None
    except csv.Error as err:
        raise ValueError(f"{tsv_path}: malformed TSV ({err})") from None
    return mapping


def read_axis_alignment(meta_path: str | Path) -> np.ndarray:
    """The ``[4, 4]`` ``axisAlignment`` matrix of a scan's ``<id>.txt``; identity if absent.

    Raises:
        ValueError: naming the file when the line does not hold 16 finite numbers.
    """
    meta_path = Path(meta_path)
    try:
        text = meta_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{meta_path}: not a UTF-8 text file ({err.reason})") from None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "axisAlignment":
            try:
                numbers = [float(v) for v in value.split()]
            except ValueError:
                numbers = []
            if len(numbers) != 16 or not all(math.isfinite(v) for v in numbers):
                raise ValueError(f"{meta_path}: axisAlignment must hold 16 numbers, all finite; "
                                 f"found {shown(line)}")
            return np.array(numbers, dtype=np.float64).reshape(4, 4)
    return np.eye(4)


def read_mesh_vertices(ply_path: str | Path) -> np.ndarray:
    """``[N, 6]`` float32 ``x y z red green blue`` of a ScanNet mesh (colours 0..255)."""
    ply_path = Path(ply_path)
    ply = read_ply(ply_path)
    if "vertex" not in [el.name for el in ply.elements]:
        raise ValueError(f"{ply_path}: no 'vertex' element")
    vertex = ply["vertex"].data
    names = ("x", "y", "z", "red", "green", "blue")
    missing = [n for n in names if n not in vertex.dtype.names]
    if missing:
        raise ValueError(f"{ply_path}: vertex element lacks properties {missing}")
    return np.stack([vertex[n].astype(np.float32) for n in names], axis=1)


def read_segment_indices(segs_path: str | Path) -> np.ndarray:
    """``[N]`` int64 over-segment id of each mesh vertex (``segIndices``)."""
    segs_path = Path(segs_path)
    data = read_json(segs_path)
    if not isinstance(data, dict) or "segIndices" not in data:
        raise ValueError(f"{segs_path}: expected an object with a 'segIndices' list")
    return np.array(integers(data["segIndices"], f"{segs_path}: segIndices"), dtype=np.int64)


def read_aggregation(agg_path: str | Path) -> list[tuple[int, str, list[int]]]:
    """``[(instance_id, raw_label, segments), ...]`` in file order; ``instance_id`` is
    ``objectId + 1``. A repeated ``objectId`` keeps its first position and its last
    segments (VoteNet builds a dict).

    Raises:
        ValueError: naming the file, the group and the field when ``objectId`` is not an
            integer >= 0, ``label`` not a string or ``segments`` not a list of integers.
    """
    agg_path = Path(agg_path)
    data = read_json(agg_path)
    groups = data.get("segGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise ValueError(f"{agg_path}: expected an object with a 'segGroups' list")
    objects: dict[int, tuple[str, list[int]]] = {}
    for i, group in enumerate(groups):
        where = f"{agg_path}: segGroups[{i}]"
        json_object(group, where)
        # objectId + 1 is stored as uint32 instance ids
        object_id = integer(field(group, "objectId", where), f"{where}.objectId", high=2**32 - 2)
        label = string(field(group, "label", where), f"{where}.label")
        segments = integers(field(group, "segments", where), f"{where}.segments")
        objects[object_id + 1] = (label, segments)
    return [(obj, label, segs) for obj, (label, segs) in objects.items()]


def load_scannet_raw_scene(scan_dir: str | Path, label_map_path: str | Path) -> ScanNetScene:
    """Aligned points, per-vertex NYU40/instance labels and 18-class boxes of one raw scan.

    Args:
        scan_dir: the scan folder, named after the scene (``.../scene0000_00``).
        label_map_path: ``scannetv2-labels.combined.tsv``.

    Returns:
        A :class:`ScanNetScene` equal to VoteNet's ``*_vert_all.npy`` (xyz, rgb),
        ``*_sem_label_all.npy``, ``*_ins_label_all.npy`` and ``*_bbox.npy``. A test scan
        without aggregation and segment files has ``None`` labels and boxes.

    Example:
        >>> scene = load_scannet_raw_scene("scans/scene0000_00", "scannetv2-labels.combined.tsv")
        ... # doctest: +SKIP
    """
    scan_dir = Path(scan_dir)
    scene_id = scan_dir.name
    mesh_path = scan_dir / f"{scene_id}_vh_clean_2.ply"
    agg_path = scan_dir / f"{scene_id}.aggregation.json"
    segs_path = scan_dir / f"{scene_id}_vh_clean_2.0.010000.segs.json"
    meta_path = scan_dir / f"{scene_id}.txt"
    for required in (mesh_path, meta_path):
        if not required.exists():
            raise FileNotFoundError(f"{scan_dir}: missing {required.name}")

    vertices = read_mesh_vertices(mesh_path)
    matrix = read_axis_alignment(meta_path)
    homogeneous = np.ones((len(vertices), 4))  # float64 alignment, float32 result: VoteNet
    homogeneous[:, :3] = vertices[:, :3]
    points = (homogeneous @ matrix.T)[:, :3].astype(np.float32)
    scene = ScanNetScene(scene_id, points, vertices[:, 3:6], axis_align_matrix=matrix)
    if not agg_path.exists() and not segs_path.exists():
        return scene
    for required in (agg_path, segs_path):
        if not required.exists():
            raise FileNotFoundError(f"{scan_dir}: missing {required.name}")

    label_map = read_label_map(label_map_path)
    seg_ids = read_segment_indices(segs_path)
    if len(seg_ids) != len(vertices):
        raise ValueError(
            f"{segs_path}: {len(seg_ids)} segIndices for the {len(vertices)} vertices of "
            f"{mesh_path.name}"
        )
    objects = read_aggregation(agg_path)
    known_segments = set(np.unique(seg_ids).tolist())
    for obj, label, segs in objects:
        if label not in label_map:
            raise ValueError(
                f"{agg_path}: raw label {label!r} (objectId {obj - 1}) is not a raw_category "
                f"of {label_map_path}"
            )
        unknown = sorted(set(segs) - known_segments)
        if unknown:
            raise ValueError(
                f"{agg_path}: objectId {obj - 1} lists segments {unknown[:5]} that are not in "
                f"{segs_path.name}"
            )

    label_segments: dict[str, list[int]] = {}
    for _, label, segs in objects:
        label_segments.setdefault(label, []).extend(segs)
    semantic_ids = np.zeros(len(vertices), dtype=np.uint32)
    for label, segs in label_segments.items():
        semantic_ids[np.isin(seg_ids, segs)] = label_map[label]

    instance_ids = np.zeros(len(vertices), dtype=np.uint32)
    instance_nyu40: dict[int, int] = {}
    for obj, _, segs in objects:
        instance_ids[np.isin(seg_ids, segs)] = obj
        if segs:
            first_vertex = int(np.argmax(seg_ids == segs[0]))
            instance_nyu40[obj] = int(semantic_ids[first_vertex])

    rows, box_ids = instance_boxes(points, instance_ids, semantic_ids, instance_nyu40)
    return ScanNetScene(
        scene_id=scene_id,
        points=points,
        colors=vertices[:, 3:6],
        semantic_ids=semantic_ids,
        instance_ids=instance_ids,
        boxes=boxes_from_nyu40_rows(rows, str(agg_path)),
        box_instance_ids=box_ids,
        axis_align_matrix=matrix,
    )
