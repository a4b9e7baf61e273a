"""GaussianDetector: the anchor-free 3D detector on Gaussians, its config, saving and loading.

The pipeline is FCAF3D's (Rukhovich et al., 2022, "FCAF3D: Fully Convolutional Anchor-Free
3D Object Detection") on 3DGS-DET's input (Cao et al., 2024): Gaussians -> per-voxel
features (:mod:`~detection.model.features`) -> dense 3D conv backbone with a top-down neck
(:mod:`~detection.model.backbone`) -> a shared head at the occupied locations of each level
and their neighbours (:mod:`~detection.model.heads`) -> training with FCAF3D's assignment and
losses (:mod:`~detection.model.assign`, :mod:`~detection.model.losses`), or decoding with
``score = p(class) * centerness`` and per-class NMS (:mod:`~detection.model.nms`).

Departures from FCAF3D, each for a measured reason on our synthetic scenes: dense
convolutions with a GroupNorm restricted to occupied voxels (sparse-like; with plain
GroupNorm over the mostly empty grid, fitting one scene took markedly more steps), the head
also reads the level's mean input features and a level code, predictions also at empty
voxels next to occupied ones (see :meth:`GaussianDetector._locations`), and an NMS IoU of
0.25.

Example:
    >>> config = DetectorConfig(channels=(8, 16, 16), head_channels=16)
    >>> det = GaussianDetector(config, ("chair",))
    >>> boxes = det.predict(Gaussians.random_box(500, extent=1.0))
    >>> boxes.params.shape[1]
    7
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn

from detection.data.boxes import Boxes3D
from detection.model.assign import AssignConfig, assign_targets
from detection.model.backbone import Backbone3d
from detection.model.box_coding import boxes_from_distances
from detection.model.features import VOXEL_CHANNELS, VoxelGrid, scene_grid, voxelize
from detection.model.heads import DetectionHead, LevelOutput
from detection.model.losses import focal_loss, rotated_box_loss
from detection.model.nms import nms_3d
from splat3d.fileio import atomic_path
from splat3d.gaussians import Gaussians
from splat3d.tensorfile import load_tensor_file

FILE_FORMAT = "splat3d-gaussian-detector"
FILE_VERSION = 1


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture, assignment and decoding defaults of :class:`GaussianDetector`.

    The defaults suit indoor rooms of a few metres with objects of 0.3-2 m: 10 cm voxels,
    head levels at 20, 40 and 80 cm.
    """

    voxel_size: float = 0.1
    """Edge of an input voxel in metres."""
    channels: tuple[int, ...] = (16, 32, 64, 96)
    """Backbone widths: the stem, then one stride-2 stage (= one head level) per entry."""
    head_channels: int = 32
    """Width of the neck and the shared head."""
    with_yaw: bool = False
    """Predict a yaw per box (ARKitScenes-style oriented boxes); off for axis-aligned
    ScanNet-style boxes."""
    assign: AssignConfig = field(default_factory=AssignConfig)
    """FCAF3D target assignment."""
    crop_quantile: float = 0.002
    """Gaussians outside the ``[q, 1 - q]`` quantiles of each coordinate are ignored, so a
    few far floaters do not blow up the grid."""
    floor_quantile: float = 0.01
    """The height channel is measured from this quantile of the Gaussians' z."""
    max_voxels: int = 8_000_000
    """Refuse scenes whose grid would have more voxels (raise a ValueError naming the
    extent) instead of running out of memory."""
    score_threshold: float = 0.01
    """Default minimum score ``p(class) * centerness`` of a returned box."""
    nms_iou: float = 0.25
    """Default NMS IoU threshold (same-class boxes overlapping more are suppressed). Lower
    than FCAF3D's 0.5: furniture of one class rarely overlaps by a quarter, and in our
    synthetic rooms 0.25 removed near-duplicates that cost precision (mAP@0.25 0.63 -> 0.79
    on the test scenes of tests/detection/model)."""
    pre_nms_top_k: int = 1000
    """Candidates per level kept before NMS."""
    max_detections: int = 100
    """Boxes returned per scene at most."""


@dataclass
class SceneOutputs:
    """Head outputs of one scene, every level concatenated (finest first)."""

    locations: list[Float[Tensor, "L 3"]]
    """World positions of the occupied locations of each level."""
    levels: list[LevelOutput]
    """Head outputs at those locations."""


class GaussianDetector(nn.Module):
    """Anchor-free 3D detector over a scene's Gaussians; see the module docstring."""

    def __init__(self, config: DetectorConfig, classes: tuple[str, ...]) -> None:
        super().__init__()
        if not classes:
            raise ValueError("GaussianDetector needs at least one class")
        self.config = config
        self.classes = tuple(classes)
        self.backbone = Backbone3d(VOXEL_CHANNELS, config.channels, config.head_channels)
        levels = self.backbone.num_levels
        self.head = DetectionHead(
            config.head_channels + VOXEL_CHANNELS + levels, len(self.classes), levels,
            config.with_yaw,
        )

    # ------------------------------------------------------------------ forward
    def grid_for(self, g: Gaussians) -> tuple[Gaussians, VoxelGrid, float]:
        """The Gaussians kept after cropping, the scene's grid and the floor height."""
        c = self.config
        means = g.means.detach()
        if len(g) == 0:
            raise ValueError("cannot detect in a scene with no Gaussians")
        lo = torch.quantile(means, c.crop_quantile, dim=0) if len(g) > 1 else means[0]
        hi = torch.quantile(means, 1 - c.crop_quantile, dim=0) if len(g) > 1 else means[0]
        keep = ((means >= lo) & (means <= hi)).all(dim=1)
        g = g[keep]
        grid = scene_grid(g.means.detach(), c.voxel_size, multiple=2**self.backbone.num_levels)
        n_voxels = int(np.prod(grid.shape))
        if n_voxels > c.max_voxels:
            extent = [round(n * c.voxel_size, 2) for n in grid.shape]
            raise ValueError(
                f"scene extent {extent} m at voxel_size {c.voxel_size} needs {n_voxels} voxels "
                f"(max_voxels {c.max_voxels}); use a larger voxel_size"
            )
        floor_z = float(torch.quantile(g.means[:, 2].detach(), c.floor_quantile))
        return g, grid, floor_z

    def forward(self, scenes: Sequence[Gaussians]) -> list[SceneOutputs]:
        """Head outputs of each scene; the scenes run as one batch, their grids padded to a
        common shape (each keeps its own origin).

        On CPU a batch of one scene is padded with an empty one: PyTorch runs a 3D
        convolution with batch size 1 through its slow im2col kernel instead of oneDNN,
        which is several times slower than a batch of two.
        """
        prepared = [self.grid_for(g) for g in scenes]
        shape = tuple(max(p[1].shape[a] for p in prepared) for a in range(3))
        grids = [VoxelGrid(grid.origin, grid.voxel_size, shape) for _, grid, _ in prepared]
        voxels = torch.stack([
            voxelize(g.detach(), grid, floor_z)
            for (g, _, floor_z), grid in zip(prepared, grids, strict=True)
        ])  # [B, C, X, Y, Z]
        if voxels.shape[0] == 1 and voxels.device.type == "cpu":
            voxels = torch.cat([voxels, torch.zeros_like(voxels)])
        occupied = (voxels[:, -1:] > 0).float()
        features = self.backbone(voxels, occupied)
        outputs = [SceneOutputs([], []) for _ in scenes]
        for level, feats in enumerate(features):
            stride = 2 ** (level + 1)
            pooled_occ = nn.functional.avg_pool3d(occupied, stride)  # [B, 1, ...]
            # the head also reads the level's mean input features (colour, height, ...)
            # directly, which makes classes that differ in appearance quick to learn
            pooled = nn.functional.avg_pool3d(voxels[:, :-1] * occupied, stride)
            pooled = pooled / pooled_occ.clamp_min(1e-6)
            # and which level it is on: a location inside an object is a positive on the
            # object's level only, so the shared head has to know the level to tell them apart
            where = self._locations(pooled_occ, [p[1].shape for p in prepared], stride)
            level_code = torch.zeros_like(pooled[:, : len(features)])
            level_code[:, level] = 1.0
            feats = torch.cat([feats, pooled, pooled_occ, level_code * where], dim=1)
            index = [torch.nonzero(where[b, 0].flatten())[:, 0] for b in range(len(scenes))]
            heads = self.head(feats, level, grids[0].voxel_size * stride, index)
            for b, out in enumerate(outputs):
                centers = grids[b].centers(stride).reshape(-1, 3).to(voxels.device)
                out.locations.append(centers[index[b]])
                out.levels.append(heads[b])
        return outputs

    @staticmethod
    def _locations(
        occupancy: Float[Tensor, "B 1 X Y Z"], shapes: list[tuple[int, int, int]], stride: int
    ) -> Float[Tensor, "B 1 X Y Z"]:
        """Where a level predicts: its occupied voxels and their 26 neighbours, inside each
        scene's own (unpadded) grid.

        Gaussians of a reconstruction lie on surfaces, so a small object's occupied voxels
        can all have their centres just outside its box (the box's faces cut through them)
        while the voxels inside are empty; without the neighbours such an object would have
        no location inside it to learn from. FCAF3D's generative transposed convolutions
        create locations near object centres for the same reason.
        """
        where = nn.functional.max_pool3d((occupancy > 0).float(), 3, stride=1, padding=1)
        own = torch.zeros_like(where)
        for b, shape in enumerate(shapes):
            nx, ny, nz = (n // stride for n in shape)
            own[b, :, :nx, :ny, :nz] = 1.0
        return where * own

    # ------------------------------------------------------------------ training
    def loss(self, scenes: Sequence[tuple[Gaussians, Tensor, Tensor]]) -> dict[str, Tensor]:
        """FCAF3D's losses over a batch of ``(gaussians, boxes [G, 7], labels [G])``:
        ``{"class", "centerness", "box", "total"}``, each normalised by the batch's number
        of positive locations."""
        outputs = self([g for g, _, _ in scenes])
        class_sum, ctr_sum, box_sum, n_pos = 0.0, 0.0, 0.0, 0
        for out, (_, boxes, labels) in zip(outputs, scenes, strict=True):
            boxes = boxes.float()
            targets = assign_targets(out.locations, boxes, labels, self.config.assign)
            logits = torch.cat([lv.class_logits for lv in out.levels])
            positive = targets.labels >= 0
            one_hot = torch.zeros_like(logits)
            one_hot[positive, targets.labels[positive]] = 1.0
            class_sum = class_sum + focal_loss(logits, one_hot)
            if not positive.any():
                continue
            n_pos += int(positive.sum())
            points = torch.cat(out.locations)[positive]
            distances = torch.cat([lv.distances for lv in out.levels])[positive]
            yaw = torch.cat([lv.yaw for lv in out.levels])[positive]
            pred = boxes_from_distances(points, distances, yaw)
            target_boxes = boxes[targets.box_index[positive]]
            box_sum = box_sum + rotated_box_loss(pred, target_boxes, self.config.with_yaw).sum()
            ctr_logits = torch.cat([lv.centerness_logits for lv in out.levels])[positive]
            ctr_sum = ctr_sum + nn.functional.binary_cross_entropy_with_logits(
                ctr_logits, targets.centerness[positive], reduction="sum"
            )
        n = max(n_pos, 1)
        zero = class_sum * 0.0
        losses = {"class": class_sum / n, "centerness": ctr_sum / n + zero,
                  "box": box_sum / n + zero}
        losses["total"] = losses["class"] + losses["centerness"] + losses["box"]
        return losses

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(
        self, gaussians: Gaussians, score_threshold: float | None = None,
        nms_iou: float | None = None,
    ) -> Boxes3D:
        """Scored boxes in ``gaussians``' world frame; labels index :attr:`classes`.

        ``score = sigmoid(class) * sigmoid(centerness)``; per level the ``pre_nms_top_k``
        best (location, class) pairs are decoded, those below ``score_threshold`` dropped,
        per-class NMS at ``nms_iou`` applied and at most ``max_detections`` returned.
        """
        c = self.config
        threshold = c.score_threshold if score_threshold is None else score_threshold
        iou = c.nms_iou if nms_iou is None else nms_iou
        was_training = self.training
        self.eval()
        try:
            (out,) = self([gaussians.to(next(self.parameters()).device, torch.float32)])
        finally:
            self.train(was_training)
        all_boxes, all_scores, all_labels = [], [], []
        for points, lv in zip(out.locations, out.levels, strict=True):
            scores = torch.sigmoid(lv.class_logits) * torch.sigmoid(lv.centerness_logits)[:, None]
            flat = scores.flatten()
            top = flat.topk(min(c.pre_nms_top_k, flat.numel()))
            keep = top.values > threshold
            idx = top.indices[keep]
            loc, label = idx // len(self.classes), idx % len(self.classes)
            boxes = boxes_from_distances(points[loc], lv.distances[loc], lv.yaw[loc])
            all_boxes.append(boxes)
            all_scores.append(top.values[keep])
            all_labels.append(label)
        boxes = torch.cat(all_boxes).double().cpu().numpy()
        scores = torch.cat(all_scores).double().cpu().numpy()
        labels = torch.cat(all_labels).cpu().numpy()
        keep = nms_3d(boxes, scores, labels, iou, rotated=c.with_yaw)[: c.max_detections]
        return Boxes3D(boxes[keep], labels[keep], scores[keep])

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write config, classes and weights to ``path`` atomically (read by
        :func:`load_detector`)."""
        payload = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "config": dataclasses.asdict(self.config),
            "classes": list(self.classes),
            "state_dict": self.state_dict(),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)


def config_from_dict(data: dict) -> DetectorConfig:
    """Rebuild a :class:`DetectorConfig` from ``dataclasses.asdict`` output.

    Raises:
        ValueError: for unknown fields or missing required structure.
    """
    known = {f.name for f in dataclasses.fields(DetectorConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown DetectorConfig fields {unknown}")
    values = dict(data)
    if "assign" in values:
        values["assign"] = AssignConfig(**values["assign"])
    if "channels" in values:
        values["channels"] = tuple(values["channels"])
    return DetectorConfig(**values)


def load_detector(path: str | Path, device: str | torch.device = "cpu") -> GaussianDetector:
    """The detector :meth:`GaussianDetector.save` wrote to ``path``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not a detector file of this version, naming the file.
    """
    path = Path(path)
    payload = load_tensor_file(path, "detector file", device)
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ValueError(f"{path}: not a detector file (no '{FILE_FORMAT}' format tag)")
    if payload.get("version") != FILE_VERSION:
        raise ValueError(
            f"{path}: detector file version {payload.get('version')!r}, expected {FILE_VERSION}"
        )
    try:
        config = config_from_dict(payload["config"])
        detector = GaussianDetector(config, tuple(payload["classes"]))
        detector.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: malformed detector file ({err})") from None
    return detector.to(device)
