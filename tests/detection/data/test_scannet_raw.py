"""Raw ScanNet scan reader on a small fixture scene written here in the exact file formats
(binary PLY with faces, segs.json, aggregation.json, scene .txt, labels TSV)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from detection.data.classes import SCANNET_CLASSES, SCANNET_NYU40_IDS
from detection.data.scannet_arrays import load_scannet_array_scene
from detection.data.scannet_raw import (
    load_scannet_raw_scene,
    read_axis_alignment,
    read_label_map,
)

REAL_TSV = Path("/work/shared/data/scannet_mmdet3d/meta_data/scannetv2-labels.combined.tsv")
TSV_HEADER = ("id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\t"
              "eigen13class\tModelNet40\tModelNet10\tShapeNetCore55\tsynsetoffset\twnsynsetid\t"
              "wnsynsetkey\tmpcat40\tmpcat40index")
TSV_ROWS = [  # raw_category, nyu40id (other columns filled with placeholders)
    ("wall", 1), ("chair", 5), ("table", 7), ("kitchen cabinets", 3), ("trash can", 39),
    ("door", 8), ("object", 40),
]
SCENE = "scene0042_00"
MATRIX = np.array([[0.945519, 0.325568, 0.0, -5.38439], [-0.325568, 0.945519, 0.0, -2.87178],
                   [0.0, 0.0, 1.0, -0.06435], [0.0, 0.0, 0.0, 1.0]])  # scene0000_00's


def write_tsv(path: Path) -> Path:
    lines = [TSV_HEADER] + [
        "\t".join([str(i + 1), raw, raw, "1", str(nyu)] + ["x"] * 12)
        for i, (raw, nyu) in enumerate(TSV_ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_scan(root: Path, vertices: np.ndarray, seg_indices: list[int], groups: list[dict],
               matrix: np.ndarray | None = MATRIX) -> Path:
    scan = root / SCENE
    scan.mkdir()
    vertex = np.empty(len(vertices), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"),
                                            ("green", "u1"), ("blue", "u1"), ("alpha", "u1")])
    for k, name in enumerate(("x", "y", "z")):
        vertex[name] = vertices[:, k]
    vertex["red"], vertex["green"], vertex["blue"], vertex["alpha"] = 10, 20, 30, 255
    faces = np.empty(1, dtype=[("vertex_indices", "i4", (3,))])
    faces["vertex_indices"] = [[0, 1, 2]]
    PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(faces, "face")],
            text=False, byte_order="<").write(str(scan / f"{SCENE}_vh_clean_2.ply"))
    (scan / f"{SCENE}_vh_clean_2.0.010000.segs.json").write_text(json.dumps(
        {"params": {"kThresh": "0.0001", "segMinVerts": "20"}, "sceneId": f"{SCENE}_vh_clean_2",
         "segIndices": seg_indices}))
    (scan / f"{SCENE}.aggregation.json").write_text(json.dumps(
        {"sceneId": f"scannet.{SCENE}", "appId": "Aggregator.v2", "segGroups": groups,
         "segmentsFile": f"scannet.{SCENE}_vh_clean_2.0.010000.segs.json"}))
    lines = ["colorHeight = 968", "colorWidth = 1296"]
    if matrix is not None:
        lines.append("axisAlignment = " + " ".join(f"{v:g}" for v in matrix.reshape(-1)))
    lines.append("numColorFrames = 5578")
    (scan / f"{SCENE}.txt").write_text("\n".join(lines) + "\n")
    return scan


def group(object_id: int, label: str, segments: list[int]) -> dict:
    return {"id": object_id, "objectId": object_id, "segments": segments, "label": label}


@pytest.fixture
def fixture_scan(tmp_path):
    rng = np.random.default_rng(7)
    seg_of_vertex = np.repeat([100, 101, 102, 103, 104, 105, 106], 8)  # 7 segments x 8 vertices
    vertices = rng.uniform(0, 4, (len(seg_of_vertex), 3)).astype(np.float32)
    groups = [
        group(0, "chair", [100, 101]),
        group(1, "table", [102]),
        group(2, "wall", [103]),
        group(3, "chair", [104]),
        group(4, "kitchen cabinets", []),  # no segments: no box
        group(5, "trash can", [105]),
    ]  # segment 106 is unannotated
    scan = write_scan(tmp_path, vertices, seg_of_vertex.tolist(), groups)
    return scan, write_tsv(tmp_path / "labels.tsv"), vertices, seg_of_vertex, groups


def test_fixture_scene_matches_votenet_definition(fixture_scan):
    scan, tsv, vertices, seg_of_vertex, groups = fixture_scan
    scene = load_scannet_raw_scene(scan, tsv)
    aligned = (np.c_[vertices.astype(np.float64), np.ones(len(vertices))] @ MATRIX.T)[:, :3]
    np.testing.assert_array_equal(scene.points, aligned.astype(np.float32))
    np.testing.assert_array_equal(scene.colors, np.tile([10, 20, 30], (len(vertices), 1)))
    np.testing.assert_array_equal(scene.axis_align_matrix, MATRIX)

    nyu = dict(TSV_ROWS)
    expected_sem = np.zeros(len(vertices), np.uint32)
    expected_ins = np.zeros(len(vertices), np.uint32)
    expected_rows = []
    for g in groups:
        mask = np.isin(seg_of_vertex, g["segments"])
        expected_sem[mask] = nyu[g["label"]]
        expected_ins[mask] = g["objectId"] + 1
        if mask.any() and nyu[g["label"]] in (5, 7, 39):
            pts = scene.points[mask]
            lo, hi = pts.min(0), pts.max(0)
            expected_rows.append((g["objectId"] + 1, (lo + hi) / 2, hi - lo, g["label"]))
    np.testing.assert_array_equal(scene.semantic_ids, expected_sem)
    np.testing.assert_array_equal(scene.instance_ids, expected_ins)
    np.testing.assert_array_equal(scene.box_instance_ids, [r[0] for r in expected_rows])
    np.testing.assert_array_equal(scene.boxes.params[:, :3], [r[1] for r in expected_rows])
    np.testing.assert_array_equal(scene.boxes.params[:, 3:6], [r[2] for r in expected_rows])
    assert [SCANNET_CLASSES[i] for i in scene.boxes.labels] == ["chair", "table", "chair",
                                                                "garbagebin"]


def test_round_trip_through_votenet_arrays(fixture_scan, tmp_path):
    scan, tsv, *_ = fixture_scan
    scene = load_scannet_raw_scene(scan, tsv)
    out = tmp_path / "arrays"
    out.mkdir()
    rows = np.c_[scene.boxes.params[:, :6], [SCANNET_NYU40_IDS[i] for i in scene.boxes.labels]]
    np.save(out / f"{SCENE}_vert_all.npy", np.c_[scene.points, scene.colors])
    np.save(out / f"{SCENE}_sem_label_all.npy", scene.semantic_ids)
    np.save(out / f"{SCENE}_ins_label_all.npy", scene.instance_ids)
    np.save(out / f"{SCENE}_bbox.npy", rows)
    again = load_scannet_array_scene(out, SCENE)
    np.testing.assert_array_equal(again.boxes.params, scene.boxes.params)
    np.testing.assert_array_equal(again.boxes.labels, scene.boxes.labels)


def test_later_groups_overwrite_shared_segments_in_votenet_order(tmp_path):
    # Segment 2 is claimed by a table (object 1) and later by a door (object 2): the door
    # wins both the semantic and the instance paint, so the table keeps only segment 1.
    vertices = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]], np.float32)
    segs = [1, 1, 2, 2]
    groups = [group(0, "table", [1, 2]), group(1, "door", [2])]
    scan = write_scan(tmp_path, vertices, segs, groups, matrix=None)
    scene = load_scannet_raw_scene(scan, write_tsv(tmp_path / "labels.tsv"))
    np.testing.assert_array_equal(scene.semantic_ids, [7, 7, 8, 8])
    np.testing.assert_array_equal(scene.instance_ids, [1, 1, 2, 2])
    np.testing.assert_array_equal(scene.boxes.params[:, :6],
                                  [[0.5, 0.5, 0.5, 1, 1, 1], [2.5, 2.5, 2.5, 1, 1, 1]])
    np.testing.assert_array_equal(scene.axis_align_matrix, np.eye(4))  # no axisAlignment line


def test_errors_name_the_file(fixture_scan, tmp_path):
    scan, tsv, *_ = fixture_scan
    agg = scan / f"{SCENE}.aggregation.json"
    data = json.loads(agg.read_text())
    data["segGroups"].append(group(9, "unicorn", [106]))
    agg.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"aggregation.json: raw label 'unicorn'.*labels.tsv"):
        load_scannet_raw_scene(scan, tsv)
    data["segGroups"][-1] = group(9, "chair", [999])
    agg.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"objectId 9 lists segments \[999\]"):
        load_scannet_raw_scene(scan, tsv)
    agg.write_text("{not json")
    with pytest.raises(ValueError, match="aggregation.json: invalid JSON at line 1"):
        load_scannet_raw_scene(scan, tsv)
    segs = scan / f"{SCENE}_vh_clean_2.0.010000.segs.json"
    segs.write_text(json.dumps({"segIndices": [0, 1]}))
    with pytest.raises(ValueError, match=r"segs.json: 2 segIndices for the 56 vertices"):
        load_scannet_raw_scene(scan, tsv)
    agg.unlink()
    with pytest.raises(FileNotFoundError, match="missing scene0042_00.aggregation.json"):
        load_scannet_raw_scene(scan, tsv)
    meta = tmp_path / "bad.txt"
    meta.write_text("axisAlignment = 1 0 0\n")
    with pytest.raises(ValueError, match="bad.txt: axisAlignment must hold 16 numbers"):
        read_axis_alignment(meta)


def test_test_scan_without_annotations(fixture_scan):
    scan, tsv, *_ = fixture_scan
    (scan / f"{SCENE}.aggregation.json").unlink()
    (scan / f"{SCENE}_vh_clean_2.0.010000.segs.json").unlink()
    scene = load_scannet_raw_scene(scan, tsv)
    assert scene.boxes is None and scene.instance_ids is None and len(scene.points) == 56


@pytest.mark.skipif(not REAL_TSV.exists(), reason=f"{REAL_TSV} not found")
def test_real_label_map():
    mapping = read_label_map(REAL_TSV)
    assert len(mapping) == 607
    assert mapping["chair"] == 5 and mapping["kitchen cabinets"] == 3 and mapping["wall"] == 1
