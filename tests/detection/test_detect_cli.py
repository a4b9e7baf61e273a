"""``detect train`` / ``detect run`` (DetectTrain / DetectRun) on a tiny scene-set folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detection.cli import DetectRun, DetectTrain
from detection.data.boxes import Boxes3D
from detection.model import DetectorConfig, DetectorTrainConfig
from detection.model.data import write_class_boxes
from detection.model.detector import GaussianDetector
from splat3d.gaussians import Gaussians
from splat3d.io.ply import save_ply

CLASSES = ("table", "chair")

TINY = DetectorTrainConfig(detector=DetectorConfig(channels=(8, 8, 16), head_channels=8))


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        name = f"room_{i}"
        parts = [Gaussians.random_box(800, extent=1.0, seed=i, center=(1.0, 1.0, 0.5))]
        boxes = np.array([[0.5, 0.5, 0.3, 0.4, 0.4, 0.6, 0], [1.4, 1.5, 0.4, 0.8, 0.5, 0.8, 0]])
        for k, box in enumerate(boxes):  # a denser cluster inside each box
            parts.append(Gaussians.random_box(300, extent=0.2, seed=10 * i + k,
                                              center=tuple(box[:3])))
        save_ply(root / name / "point_cloud.ply", Gaussians.cat(parts))
        write_class_boxes(root / name / "gt_boxes.json", name, Boxes3D(boxes, np.array([1, 0])),
                          CLASSES)
    (root / "classes.json").write_text(json.dumps(list(CLASSES)))
    (root / "splits.json").write_text(json.dumps({"train": ["room_0", "room_1"],
                                                  "val": ["room_2"]}))
    return root


def test_train_then_run_writes_detector_and_predictions(tmp_path, data_root, capsys):
    out = tmp_path / "det"
    DetectTrain(data=data_root, output=out, epochs=2, config=TINY, progress=False).run()
    assert {p.name for p in out.iterdir()} == {"detector.pt", "checkpoint.pt", "train_log.json"}
    assert "training on 2 scenes" in capsys.readouterr().out
    pred = tmp_path / "pred" / "room_2.json"
    DetectRun(scene=data_root / "room_2", detector=out / "detector.pt", out=pred,
              gt=data_root / "room_2" / "gt_boxes.json", score_threshold=0.0).run()
    data = json.loads(pred.read_text())
    assert data["scene"] == "room_2" and data["boxes"]
    assert {b["label"] for b in data["boxes"]} <= set(CLASSES)
    assert all(0 <= b["score"] <= 1 for b in data["boxes"])
    printed = capsys.readouterr().out
    assert "mAP" in printed and f"wrote {len(data['boxes'])} boxes" in printed
    assert [p.name for p in pred.parent.iterdir()] == ["room_2.json"]


def test_run_errors_are_one_line(tmp_path, data_root):
    with pytest.raises(FileNotFoundError, match="point_cloud.ply does not exist"):
        DetectRun(scene=tmp_path, detector=tmp_path / "d.pt", out=tmp_path / "p.json").run()
    with pytest.raises(FileNotFoundError, match="detector file"):
        DetectRun(scene=data_root / "room_0", detector=tmp_path / "d.pt",
                  out=tmp_path / "p.json").run()
    with pytest.raises(ValueError, match="no split 'test'"):
        DetectTrain(data=data_root, output=tmp_path / "o", split="test").run()
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "o").exists()


def test_run_into_a_folder_names_the_file_after_the_scene_inside_it(tmp_path, data_root):
    detector = tmp_path / "det" / "detector.pt"
    GaussianDetector(TINY.detector, CLASSES).save(detector)
    preds = tmp_path / "box" / "preds"
    preds.mkdir(parents=True)
    before = set(tmp_path.rglob("*"))
    for name in (None, "../../evil", f"{tmp_path}/abs"):
        DetectRun(scene=data_root / "room_2", detector=detector, out=preds, name=name,
                  score_threshold=0.0).run()
    created = [p for p in set(tmp_path.rglob("*")) - before if p.is_file()]
    assert len(created) == 3 and all(p.is_relative_to(preds) for p in created), created
    assert json.loads((preds / "evil.json").read_text())["scene"] == "../../evil"
    assert json.loads((preds / "room_2.json").read_text())["scene"] == "room_2"


def test_run_on_a_scene_without_gaussians_names_the_file(tmp_path):
    from splat3d.io import save_ply

    GaussianDetector(DetectorConfig(), ("chair",)).save(tmp_path / "d.pt")
    save_ply(tmp_path / "empty.ply", Gaussians.empty(0))
    with pytest.raises(ValueError, match=r"empty\.ply: holds no Gaussians"):
        DetectRun(scene=tmp_path / "empty.ply", detector=tmp_path / "d.pt",
                  out=tmp_path / "p.json").run()
    assert not (tmp_path / "p.json").exists()
