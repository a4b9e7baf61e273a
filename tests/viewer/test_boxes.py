"""Box files (predictions, ground truth, dataset annotations) drawn in the viewer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from detection.data.boxes import Boxes3D  # noqa: E402
from detection.data.classes import ARKITSCENES_CLASSES, SCANNET_CLASSES  # noqa: E402
from detection.eval.scene_files import write_scene_boxes  # noqa: E402
from splat3d import Gaussians  # noqa: E402
from splat3d.io import save_ply  # noqa: E402
from viewer import Viewer, ViewerConfig, launch  # noqa: E402
from viewer.boxes import (  # noqa: E402
    GT_COLOR,
    PRED_COLOR,
    box_labels,
    read_box_file,
    show_scene_boxes,
)
from viewer.layers import yaw_to_wxyz  # noqa: E402

SCANNET_SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "data" / "scannet_mmdet3d"
                  / "votenet_format_full_scenes" / "scene0000_00_bbox.npy")

PRED = Boxes3D(np.array([[0.5, 1.0, 0.4, 0.6, 0.5, 0.8, 0.3],
                         [2.0, -1.0, 0.5, 1.5, 0.9, 1.0, -1.2],
                         [0.0, 0.0, 0.2, 0.4, 0.4, 0.4, 0.0]]),
               np.array([SCANNET_CLASSES.index("chair"), SCANNET_CLASSES.index("table"),
                         SCANNET_CLASSES.index("chair")]),
               np.array([0.934, 0.41, 0.05]))


@pytest.fixture()
def viewer(tmp_path):
    v = Viewer(Gaussians.random_sphere(50, opacity=0.6),
               ViewerConfig(port=0, screenshot_dir=tmp_path / "shots", render_resolution=48))
    yield v
    v.close()


def drawn(viewer, name):
    """(position, dimensions, wxyz, colour, label text) of each drawn box in group ``name``."""
    handles = viewer.boxes._groups[name]
    boxes = [h for h in handles if type(h).__name__ == "BoxHandle"]
    labels = {h.name.rsplit("/", 1)[0]: h.text for h in handles
              if type(h).__name__ == "LabelHandle"}
    return [(np.asarray(h.position), np.asarray(h.dimensions), np.asarray(h.wxyz),
             tuple(int(c) for c in h.color), labels.get(h.name)) for h in boxes]


def test_predictions_show_as_scored_labels_in_the_file_geometry(viewer, tmp_path):
    path = tmp_path / "scene0011_00.json"
    write_scene_boxes(path, "scene0011_00", PRED, "scannet")
    assert show_scene_boxes(viewer, path, "scannet", min_score=0.1) == 2
    assert viewer.boxes.groups == {"pred:scene0011_00": 4}, "a box and a label each"
    got = drawn(viewer, "pred:scene0011_00")
    assert [g[4] for g in got] == ["chair 0.93", "table 0.41"]
    orange = tuple(int(c * 255 + 0.5) for c in PRED_COLOR)
    for (pos, dims, wxyz, rgb, _), p in zip(got, PRED.params[:2], strict=True):
        np.testing.assert_allclose(pos, p[:3])
        np.testing.assert_allclose(dims, p[3:6])
        np.testing.assert_allclose(wxyz, yaw_to_wxyz(p[6]))
        assert rgb == orange
    # showing everything under the same name replaces the group
    assert show_scene_boxes(viewer, path, "scannet", name="pred:scene0011_00") == 3
    assert viewer.boxes.groups == {"pred:scene0011_00": 6}


def test_ground_truth_json_has_plain_labels_and_its_colour(viewer, tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"scene": "s", "boxes": [
        {"center": [1, 2, 3], "size": [1, 1, 2], "label": "bed"}]}))
    assert show_scene_boxes(viewer, path, "scannet", color=(0, 0, 1)) == 1
    ((pos, dims, wxyz, rgb, label),) = drawn(viewer, "gt:gt")
    assert label == "bed" and rgb == (0, 0, 255)
    np.testing.assert_allclose(wxyz, [1, 0, 0, 0])
    show_scene_boxes(viewer, path, "scannet", name="other")
    assert drawn(viewer, "other")[0][3] == tuple(int(c * 255 + 0.5) for c in GT_COLOR)
    with pytest.raises(ValueError, match="RGB triple"):
        show_scene_boxes(viewer, path, "scannet", color=(0, 0, 2))


def test_arkitscenes_annotation_yaw(viewer, tmp_path):
    yaw = 0.6
    axes = [math.cos(yaw), math.sin(yaw), 0, -math.sin(yaw), math.cos(yaw), 0, 0, 0, 1]
    path = tmp_path / "41254925_3dod_annotation.json"
    path.write_text(json.dumps({"skipped": False, "data": [{
        "uid": "a", "label": "sofa", "segments": {"obbAligned": {
            "centroid": [1.0, 2.0, 0.4], "axesLengths": [2.0, 0.9, 0.8],
            "normalizedAxes": axes}}}]}))
    scene, boxes = read_box_file(path, "arkitscenes")
    assert scene == "41254925" and boxes.scores is None
    assert show_scene_boxes(viewer, path, "arkitscenes") == 1
    ((pos, dims, wxyz, _, label),) = drawn(viewer, "gt:41254925_3dod_annotation")
    assert label == "sofa" and "sofa" in ARKITSCENES_CLASSES
    np.testing.assert_allclose(wxyz, yaw_to_wxyz(yaw), atol=1e-12)
    np.testing.assert_allclose(dims, [2.0, 0.9, 0.8])
    with pytest.raises(ValueError, match="arkitscenes file, but dataset='scannet'"):
        read_box_file(path, "scannet")


@pytest.mark.skipif(not SCANNET_SAMPLE.is_file(), reason="needs ../shared/data/scannet_mmdet3d")
def test_real_scannet_bbox_array(viewer):
    rows = np.load(SCANNET_SAMPLE)
    scene, boxes = read_box_file(SCANNET_SAMPLE, "scannet")
    assert scene == "scene0000_00" and len(boxes) > 0
    n = show_scene_boxes(viewer, SCANNET_SAMPLE, "scannet")
    assert n == len(boxes)
    got = drawn(viewer, "gt:scene0000_00_bbox")
    # every drawn box is one of the file's rows (the reader keeps the 18 benchmark classes)
    for pos, dims, _, _, label in got:
        match = np.all(np.isclose(rows[:, :3], pos) & np.isclose(rows[:, 3:6], dims), axis=1)
        assert match.sum() >= 1 and label in SCANNET_CLASSES


def test_box_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_box_file(tmp_path / "nope.json", "scannet")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"scene": "s", "boxes": [
        {"center": [0, 0, 0], "size": [1, 1, 1], "label": "dragon", "score": 0.5}]}))
    with pytest.raises(ValueError, match=r"bad\.json: boxes\[0\]\.label: 'dragon'"):
        read_box_file(bad, "scannet")
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"scene": "s", "boxes": [
        {"center": [0, 0, 0], "size": [1, 1, 1], "label": "bed", "score": 0.5},
        {"center": [0, 0, 0], "size": [1, 1, 1], "label": "bed"}]}))
    with pytest.raises(ValueError, match=r"boxes\[1\]\.score"):
        read_box_file(mixed, "scannet")
    other = tmp_path / "boxes.txt"
    other.write_text("")
    with pytest.raises(ValueError, match="not a box file"):
        read_box_file(other, "scannet")
    with pytest.raises(ValueError, match="nuscenes"):
        read_box_file(bad, "nuscenes")


def test_box_labels():
    assert box_labels(PRED, SCANNET_CLASSES) == ["chair 0.93", "table 0.41", "chair 0.05"]
    gt = Boxes3D(PRED.params, PRED.labels)
    assert box_labels(gt, SCANNET_CLASSES) == ["chair", "table", "chair"]


def test_serve_draws_box_files_and_refuses_bad_ones_before_serving(tmp_path, monkeypatch):
    save_ply(tmp_path / "scene.ply", Gaussians.random_box(20))
    pred, gt = tmp_path / "pred" / "s.json", tmp_path / "gt" / "s.json"
    pred.parent.mkdir()
    gt.parent.mkdir()
    write_scene_boxes(pred, "s", PRED, "scannet")
    write_scene_boxes(gt, "s", Boxes3D(PRED.params[:1], PRED.labels[:1]), "scannet")
    with launch.serve(tmp_path / "scene.ply", ViewerConfig(port=0), boxes=[pred, gt],
                      min_score=0.5) as v:
        assert v.boxes.groups == {"pred:s": 2, "gt:s": 2}
    started = []
    monkeypatch.setattr(launch, "Viewer", lambda *a, **k: started.append(1))
    with pytest.raises(ValueError, match="dragon"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"scene": "s", "boxes": [
            {"center": [0, 0, 0], "size": [1, 1, 1], "label": "dragon"}]}))
        launch.serve(tmp_path / "scene.ply", ViewerConfig(port=0), boxes=[gt, bad])
    assert not started, "no server for a bad box file"


def test_view_cli_passes_box_options(tmp_path, monkeypatch, capsys):
    import tyro

    calls = {}

    def fake_serve(path, config, boxes, box_dataset, min_score):
        calls.update(path=path, boxes=boxes, box_dataset=box_dataset, min_score=min_score)
        return SimpleNamespace(url="http://127.0.0.1:1", close=lambda: None,
                               state=SimpleNamespace(snapshot=lambda: SimpleNamespace(
                                   gaussians=[0] * 5)))

    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(launch, "serve", fake_serve)
    monkeypatch.setattr(launch.time, "sleep", interrupt)
    tyro.cli(launch.view, args=["scene.ply", "--boxes", "p.json", "g.json", "--box-dataset",
                                "arkitscenes", "--min-score", "0.3"])
    assert calls == {"path": Path("scene.ply"), "boxes": (Path("p.json"), Path("g.json")),
                     "box_dataset": "arkitscenes", "min_score": 0.3}
    assert "2 box file(s)" in capsys.readouterr().out
