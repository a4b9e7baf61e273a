"""Per-scene 3DGS reconstruction of a rendered room, on plain or boundary-guided images.

The renders of a room (:mod:`~detection.synthetic.render`) become a
:class:`splat3d.data.SceneDataset`; for the guided variant every image first gets the
instance outlines of its ground-truth mask painted in the class colours
(:func:`detection.method.guided_images`, 3DGS-DET Sec. 3.3). Training is
:func:`splat3d.train.train` with a short CPU schedule. Initialisation uses seed points
back-projected from the rendered depth maps, subsampled, with the (plain or guided) image
colours, the way an RGB-D scan such as ScanNet seeds 3DGS; without them a few hundred CPU
steps would not turn random Gaussians into a room. The ``test`` split is every 8th view and
is also trained on: it scores the fit, not novel views (detection needs the whole room).

Example:
    >>> data = views_dataset(views, room.instance_labels, guided=True,
    ...                      config=ReconConfig())  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from detection.method.boundary import default_palette, guided_images
from detection.synthetic.furniture import ROOM_CLASSES
from detection.synthetic.render import RoomViews
from splat3d.data import SceneDataset, rig_radius
from splat3d.strategy import DefaultStrategy
from splat3d.train.config import InitConfig, TrainConfig


@dataclass(frozen=True)
class ReconConfig:
    """Per-scene 3DGS training settings."""

    steps: int = 300
    """Optimisation steps (one view per step)."""
    seed_points: int = 6000
    """Seed points drawn from the depth maps for initialisation."""
    boundary_thickness: int = 1
    """Outline width in pixels on guided images (Sec. 3.3)."""
    grow_grad2d: float = 0.0006
    """Densification threshold on the screen-space gradient (3DGS uses 2e-4; higher keeps
    the per-scene model compact for the detector)."""
    backend: str = "auto"
    """Rasterizer backend of training."""


def seed_points(views: RoomViews, images: Float[Tensor, "V H W 3"], count: int,
                generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` points (and colours from ``images``) back-projected from the depth maps.

    A pixel ``(x, y)`` with depth ``z > 0`` lifts to ``c2w @ (z K^-1 (x + 0.5, y + 0.5, 1))``.
    """
    v, h, w = views.depth.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pix = torch.stack([xs + 0.5, ys + 0.5, torch.ones(h, w)], -1).reshape(-1, 3)  # [HW, 3]
    valid = (views.depth.reshape(v, -1) > 0).nonzero()  # [P, 2] (view, pixel)
    if valid.shape[0] == 0:
        raise ValueError("seed_points: every depth map is empty")
    pick = valid[torch.randperm(valid.shape[0], generator=generator)[:count]]
    view, pixel = pick[:, 0], pick[:, 1]
    z = views.depth.reshape(v, -1)[view, pixel]
    rays = torch.einsum("pij,pj->pi", torch.linalg.inv(views.cameras.K[view]), pix[pixel])
    cam = rays * z[:, None]
    c2w = views.cameras.cam_to_world[view]
    world = torch.einsum("pij,pj->pi", c2w[:, :3, :3], cam) + c2w[:, :3, 3]
    return world, images.reshape(v, -1, 3)[view, pixel]


def views_dataset(views: RoomViews, instance_labels: Int[np.ndarray, " I"], guided: bool,
                  config: ReconConfig, seed: int = 0) -> SceneDataset:
    """The training dataset of a room: plain or boundary-guided images, seed points."""
    images = views.images
    if guided:
        palette = default_palette(len(ROOM_CLASSES))
        images = guided_images(images, views.masks, instance_labels, palette,
                               config.boundary_thickness)
    gen = torch.Generator().manual_seed(seed)
    points, colors = seed_points(views, images, config.seed_points, gen)
    n = images.shape[0]
    splits = {"train": list(range(n)), "test": list(range(0, n, 8))}
    return SceneDataset(images, views.cameras, splits, [f"view_{i:03d}" for i in range(n)],
                        rig_radius(views.cameras), (1.0, 1.0, 1.0), points=points,
                        point_colors=colors, format="synthetic-room")


def recon_train_config(output_dir: Path, config: ReconConfig, seed: int) -> TrainConfig:
    """The compact 3DGS schedule: SH degree 0 (the rooms are diffuse), densification over the
    middle of the run, no opacity reset (too few steps to recover from one)."""
    steps = config.steps
    every = max(steps // 10, 10)
    return TrainConfig(
        output_dir=Path(output_dir), overwrite=True, progress=False, seed=seed, threads=1,
        max_steps=steps, sh_degree=0, eval_steps=(steps,), checkpoint_every=steps,
        backend=config.backend,
        init=InitConfig(kind="points", opacity=0.5, scale_factor=0.7),
        strategy=DefaultStrategy(refine_start_iter=every, refine_every=every,
                                 refine_stop_iter=int(0.7 * steps), reset_every=10 * steps,
                                 grow_grad2d=config.grow_grad2d),
    )
