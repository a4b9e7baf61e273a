"""GaussianDetector: output shapes, batching invariance, decoding, save / load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from detection.model import DetectorConfig, GaussianDetector, load_detector
from detection.model.backbone import Backbone3d
from detection.model.heads import DetectionHead

SMALL = DetectorConfig(channels=(8, 16, 16), head_channels=16)


def test_backbone_levels_and_head_shapes():
    net = Backbone3d(16, (8, 16, 32, 32), out_channels=24)
    x = torch.randn(2, 16, 16, 8, 24)
    levels = net(x, torch.ones(2, 1, 16, 8, 24))
    assert [tuple(f.shape) for f in levels] == [(2, 24, 8, 4, 12), (2, 24, 4, 2, 6),
                                                (2, 24, 2, 1, 3)]
    head = DetectionHead(24, num_classes=5, num_levels=3, with_yaw=True)
    outs = head(levels[1], 1, 0.4, [torch.tensor([0, 3, 7]), torch.tensor([1])])
    assert outs[0].class_logits.shape == (3, 5) and outs[1].distances.shape == (1, 6)
    assert (outs[0].distances > 0).all() and outs[0].yaw.abs().max() <= np.pi / 2


def test_empty_voxels_do_not_change_occupied_features(scene_factory):
    """The masked normalisation makes the network sparse-like: padding a scene's grid with
    empty space (as batching with a larger scene does) leaves its outputs unchanged."""
    torch.manual_seed(0)
    det = GaussianDetector(SMALL, ("table", "cabinet", "chair")).eval()
    small, large = scene_factory(0).gaussians, scene_factory(1, room=4.0).gaussians
    with torch.no_grad():
        (alone,) = det([small])
        together, _ = det([small, large])
    for a, b in zip(alone.levels, together.levels, strict=True):
        torch.testing.assert_close(a.class_logits, b.class_logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.distances, b.distances, atol=1e-5, rtol=1e-4)
    for a, b in zip(alone.locations, together.locations, strict=True):
        torch.testing.assert_close(a, b)


def test_predict_returns_scored_boxes_within_limits(scene_factory):
    torch.manual_seed(0)
    config = dataclasses.replace(SMALL, score_threshold=0.0, max_detections=7, with_yaw=True)
    det = GaussianDetector(config, ("table", "cabinet", "chair"))
    boxes = det.predict(scene_factory(0).gaussians)
    assert len(boxes) == 7 and boxes.scores is not None
    assert (np.diff(boxes.scores) <= 0).all() and (boxes.params[:, 3:6] > 0).all()
    assert set(boxes.labels.tolist()) <= {0, 1, 2}
    assert len(det.predict(scene_factory(0).gaussians, score_threshold=1.0)) == 0
    with pytest.raises(ValueError, match="no Gaussians"):
        det.predict(scene_factory(0).gaussians[:0])


def test_save_load_round_trip(tmp_path, scene_factory):
    torch.manual_seed(0)
    det = GaussianDetector(dataclasses.replace(SMALL, with_yaw=True, score_threshold=0.0),
                           ("table", "chair"))
    det.save(tmp_path / "d.pt")
    back = load_detector(tmp_path / "d.pt")
    assert back.config == det.config and back.classes == det.classes
    g = scene_factory(2).gaussians
    a, b = det.predict(g), back.predict(g)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert [p.name for p in tmp_path.iterdir()] == ["d.pt"]  # no temporary left behind


def test_load_refuses_code_in_the_file(tmp_path, malicious_torch_file):
    marker = malicious_torch_file(tmp_path / "evil.pt", {"format": "x"})
    with pytest.raises(ValueError, match="evil.pt: refused"):
        load_detector(tmp_path / "evil.pt")
    assert not marker.exists()


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_detector(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt: not a readable detector file"):
        load_detector(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a detector file"):
        load_detector(tmp_path / "other.pt")
    det = GaussianDetector(SMALL, ("chair",))
    det.save(tmp_path / "d.pt")
    payload = torch.load(tmp_path / "d.pt", weights_only=True)
    payload["state_dict"].pop("head.level_scales")
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="broken.pt: malformed detector file"):
        load_detector(tmp_path / "broken.pt")


def test_oversized_grid_is_refused():
    from splat3d.gaussians import Gaussians

    g = Gaussians.random_box(2000, extent=50.0)
    det = GaussianDetector(dataclasses.replace(SMALL, max_voxels=10_000), ("chair",))
    with pytest.raises(ValueError, match="larger voxel_size"):
        det.predict(g)


@pytest.mark.parametrize("with_yaw", [False, True])
def test_loss_is_finite_and_reaches_every_parameter(scene_factory, with_yaw):
    torch.manual_seed(0)
    det = GaussianDetector(dataclasses.replace(SMALL, with_yaw=with_yaw),
                           ("table", "cabinet", "chair"))
    batch = []
    for seed in (0, 1):
        s = scene_factory(seed, room=2.0, objects=2, density=200.0, with_yaw=with_yaw)
        batch.append((s.gaussians, torch.from_numpy(s.boxes.params).float(),
                      torch.from_numpy(s.boxes.labels)))
    losses = det.loss(batch)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    losses["total"].backward()
    for name, p in det.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
