"""The per-scene 3DGS-DET pipeline on synthetic rooms: render, reconstruct, sample, write.

Each step is independent and resumable: it reads the previous step's files, writes its own
atomically, and is skipped when its outputs already exist, so an interrupted run continues
where it stopped and the scenes of one dataset can be spread over several machines sharing
the output folder (each runs :func:`run_pipeline` on its own ``scenes``).

Layout under ``root``::

    scenes/<scene>/views.npz         step 1: renders, depth, instance masks, 2D boxes
    scenes/<scene>/gt_boxes.json     step 1: ground-truth 3D boxes (scene-file format)
    scenes/<scene>/room.json         step 1: seed, room size, instance -> class (written last)
    scenes/<scene>/recon_plain/      step 2: 3DGS run folder on the plain images
    scenes/<scene>/recon_guided/     step 2: 3DGS run folder on boundary-guided images
    detect/<variant>/<scene>/point_cloud.ply, gt_boxes.json     steps 3+4: sampled Gaussians
    detect/<variant>/splits.json, classes.json                 the detection data folder

``detect/<variant>`` is a detection data folder of the contract read by the detector
(``detection.model.read_detection_scenes``).

Example:
    >>> run_pipeline(Path("out"), {"room_000": 7}, PipelineConfig(),
    ...              VARIANTS)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from detection.data.boxes import Boxes3D
from detection.data.classes import SCANNET_CLASSES
from detection.eval.scene_files import read_scene_boxes, write_scene_boxes
from detection.method.box_sampling import (
    box_focused_sample,
    farthest_point_sample,
    object_probability,
    random_sample,
)
from detection.synthetic.boxes2d import BoxNoise, noisy_detections
from detection.synthetic.furniture import ROOM_CLASSES
from detection.synthetic.reconstruct import ReconConfig, recon_train_config, views_dataset
from detection.synthetic.render import RenderConfig, load_views, render_room, save_views
from detection.synthetic.rooms import RoomConfig, generate_room
from splat3d.fileio import atomic_path, read_json, write_json
from splat3d.io import load_ply, save_ply
from splat3d.safepath import child_path
from splat3d.train import train

Sampling = Literal["none", "random", "fps", "box"]


@dataclass(frozen=True)
class Variant:
    """One pipeline variant of the ablation."""

    name: str
    """Folder name under ``detect/`` (and the row name of the results table)."""
    guided: bool
    """Reconstruct from boundary-guided images (Sec. 3.3) instead of the plain renders."""
    sampling: Sampling
    """``none`` (every Gaussian), ``random``, ``fps`` or ``box`` (box-focused, Sec. 3.4)."""


VARIANTS: tuple[Variant, ...] = (
    Variant("basic", guided=False, sampling="random"),
    Variant("boundary", guided=True, sampling="random"),
    Variant("full", guided=True, sampling="box"),
)
"""The paper's ablation: basic -> + boundary guidance -> + box-focused sampling. All three
keep the same number of Gaussians, so only *which* Gaussians the detector sees differs."""


@dataclass(frozen=True)
class SamplingConfig:
    """Step 3: which and how many Gaussians go to the detector."""

    num_samples: int = 4096
    """``M``, Gaussians kept per scene (all of them when a scene has fewer)."""
    p_bg: float = 0.01
    """Object probability outside every box frustum (Sec. 3.4)."""
    z_min: float = 0.05
    """Near depth of the box frustums, metres (the far depth is the room's diagonal)."""
    noise: BoxNoise = field(default_factory=BoxNoise)
    """The simulated 2D detector feeding box-focused sampling."""


@dataclass(frozen=True)
class PipelineConfig:
    """Every per-scene setting of the pipeline."""

    room: RoomConfig = field(default_factory=RoomConfig)
    """Room generator."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """Camera trajectory and images."""
    recon: ReconConfig = field(default_factory=ReconConfig)
    """Per-scene 3DGS training."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """Gaussian sampling before detection."""


def _scene_classes_to_scannet(boxes: Boxes3D) -> Boxes3D:
    labels = np.array([SCANNET_CLASSES.index(ROOM_CLASSES[i]) for i in boxes.labels], np.int64)
    return Boxes3D(boxes.params, labels.reshape(-1), boxes.scores)


def read_gt_boxes(path: Path) -> Boxes3D:
    """Ground-truth boxes of a ``gt_boxes.json`` with labels indexing :data:`ROOM_CLASSES`."""
    _, boxes = read_scene_boxes(path, "scannet", with_scores=False)
    bad = [SCANNET_CLASSES[i] for i in boxes.labels if SCANNET_CLASSES[i] not in ROOM_CLASSES]
    if bad:
        raise ValueError(f"{path}: labels {sorted(set(bad))} are not synthetic-room classes "
                         f"{ROOM_CLASSES}")
    labels = np.array([ROOM_CLASSES.index(SCANNET_CLASSES[i]) for i in boxes.labels], np.int64)
    return Boxes3D(boxes.params, labels.reshape(-1))


def render_step(scene_dir: Path, room_seed: int, config: PipelineConfig) -> bool:
    """Step 1: generate and render the room; returns False when it was already done."""
    if (scene_dir / "room.json").is_file() and (scene_dir / "views.npz").is_file():
        return False
    room = generate_room(config.room, room_seed)
    views = render_room(room, config.render, seed=room_seed)
    save_views(scene_dir / "views.npz", views)
    write_scene_boxes(scene_dir / "gt_boxes.json", scene_dir.name,
                      _scene_classes_to_scannet(room.boxes), "scannet")
    write_json(scene_dir / "room.json", {
        "seed": room_seed, "size": list(room.size), "free_radius": room.free_radius,
        "classes": list(ROOM_CLASSES), "instance_labels": room.instance_labels.tolist(),
        "num_gaussians": len(room.gaussians)})
    return True


def _room_info(scene_dir: Path) -> dict:
    path = scene_dir / "room.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the render step of {scene_dir.name} first")
    return read_json(path)


def recon_dir(scene_dir: Path, guided: bool) -> Path:
    """The 3DGS run folder of a scene's plain or guided reconstruction."""
    return scene_dir / ("recon_guided" if guided else "recon_plain")


def reconstruct_step(scene_dir: Path, guided: bool, config: PipelineConfig) -> bool:
    """Step 2: train the scene's 3DGS on plain or guided images; False when already done."""
    run = recon_dir(scene_dir, guided)
    if (run / "point_cloud.ply").is_file() and (run / "metrics.json").is_file():
        return False
    info = _room_info(scene_dir)
    views = load_views(scene_dir / "views.npz")
    data = views_dataset(views, np.array(info["instance_labels"], np.int64), guided,
                         config.recon, seed=info["seed"])
    train(recon_train_config(run, config.recon, info["seed"]), dataset=data)
    return True


def sample_indices(scene_dir: Path, means: torch.Tensor, sampling: Sampling,
                   config: SamplingConfig, seed: int) -> torch.Tensor:
    """Step 3: the indices of the Gaussians (centres ``means``) kept for detection."""
    n = means.shape[0]
    m = min(config.num_samples, n)
    gen = torch.Generator().manual_seed(seed)
    if sampling == "none":
        return torch.arange(n)
    if sampling == "random":
        return random_sample(n, m, gen)
    if sampling == "fps":
        return farthest_point_sample(means, m, start=int(torch.randint(n, (1,), generator=gen)))
    if sampling != "box":
        raise ValueError(f"unknown sampling {sampling!r}; use none, random, fps or box")
    views = load_views(scene_dir / "views.npz")
    cams = views.cameras
    detections = [noisy_detections(b, cams.width, cams.height, config.noise, gen)
                  for b in views.boxes2d]
    width, depth, height = _room_info(scene_dir)["size"]
    z_max = float(np.hypot(np.hypot(width, depth), height))
    prob = object_probability(means, cams, [d[0] for d in detections],
                              [d[1] for d in detections], config.z_min, z_max, config.p_bg)
    return box_focused_sample(means, prob, m, gen)


def sample_step(scene_dir: Path, variant: Variant, config: PipelineConfig,
                detect_root: Path) -> bool:
    """Steps 3 and 4: sample the reconstruction and write the scene's detection folder
    (``point_cloud.ply`` + ``gt_boxes.json``); False when already done."""
    out = child_path(detect_root, f"{variant.name}/{scene_dir.name}", exact=True)
    if (out / "point_cloud.ply").is_file() and (out / "gt_boxes.json").is_file():
        return False
    info = _room_info(scene_dir)
    gaussians = load_ply(recon_dir(scene_dir, variant.guided) / "point_cloud.ply")
    keep = sample_indices(scene_dir, gaussians.means, variant.sampling, config.sampling,
                          info["seed"])
    save_ply(out / "point_cloud.ply", gaussians[torch.sort(keep).values])
    gt = (scene_dir / "gt_boxes.json").read_text()
    with atomic_path(out / "gt_boxes.json") as tmp:
        tmp.write_text(gt)
    return True


def write_split_files(folder: Path, splits: Mapping[str, Sequence[str]]) -> None:
    """``splits.json`` and ``classes.json`` of a detection data folder."""
    write_json(folder / "splits.json", {k: list(v) for k, v in splits.items()})
    write_json(folder / "classes.json", list(ROOM_CLASSES))


def run_pipeline(root: Path, scenes: Mapping[str, int], config: PipelineConfig,
                 variants: Sequence[Variant] = VARIANTS, log=print) -> None:
    """Every step for ``scenes`` (name -> room seed) and ``variants``, skipping done steps.

    The dataset-level driver: give each machine its own subset of ``scenes`` (same ``root``,
    same ``config``) to spread a run; steps only ever write inside their own scene folders.

    Raises:
        ValueError: for a scene or variant name that is not a plain relative name (``..``, a
            root, control characters: :func:`splat3d.safepath.child_path`), before any work;
            renaming it would break the ``splits.json`` that lists it.
    """
    root = Path(root)
    for name in scenes:
        for variant in variants:
            child_path(root / "detect", f"{variant.name}/{name}", exact=True)
    for name, seed in scenes.items():
        scene_dir = child_path(root / "scenes", name, exact=True)
        did = []
        if render_step(scene_dir, seed, config):
            did.append("render")
        for guided in sorted({v.guided for v in variants}):
            if reconstruct_step(scene_dir, guided, config):
                did.append("recon_guided" if guided else "recon_plain")
        for variant in variants:
            if sample_step(scene_dir, variant, config, root / "detect"):
                did.append(f"sample:{variant.name}")
        log(f"{name}: " + (", ".join(did) if did else "already done"))
