"""The one dataset type every reader produces: posed images of one scene with named splits.

:class:`SceneDataset` satisfies the trainer's :class:`splat3d.train.scene.SceneData`
protocol. Conventions: images are float32 RGB in [0, 1], already composited on
``background`` where the format has alpha; cameras are :class:`splat3d.Cameras` (OpenCV,
pixel intrinsics, one image size); ``scene_scale`` follows 3D Gaussian Splatting's
``getNerfppNorm`` (Kerbl et al. 2023, ``scene/dataset_readers.py``): 1.1 times the largest
distance of a training camera centre from the centres' mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.cameras import Cameras
from splat3d.data.errors import DatasetError

HOLDOUT_EVERY = 8
"""Every 8th frame (indices 0, 8, 16, ...) is a test view, as in LLFF/Mip-NeRF 360 and 3DGS."""


@dataclass
class SceneDataset:
    """Posed images of one scene.

    Example:
        >>> data = load_dataset(Path("lego"), downscale=4)  # doctest: +SKIP
        >>> data.images.shape, data.splits["test"][:2]  # doctest: +SKIP
        (torch.Size([400, 200, 200, 3]), [200, 201])
    """

    images: Float[Tensor, "N H W 3"]
    """Colour images in [0, 1], composited on ``background`` where there is alpha."""
    cameras: Cameras
    """One pinhole camera per image (undistorted where the format had distortion)."""
    splits: dict[str, list[int]]
    """Split name (``train``, ``val``, ``test``) -> image indices, each non-empty."""
    names: list[str]
    """Unique frame names, e.g. image file stems."""
    scene_scale: float
    """Radius of the training camera rig, see the module docstring."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Colour the images were composited on (irrelevant when ``alpha`` is None)."""
    alpha: Float[Tensor, "N H W 1"] | None = None
    """Per-pixel alpha / object mask in [0, 1], if the format has it."""
    depth: Float[Tensor, "N H W 1"] | None = None
    """Per-pixel depth along the optical axis in scene units; 0 where unknown."""
    points: Float[Tensor, "P 3"] | None = None
    """Seed points (e.g. structure-from-motion), if the format has them."""
    point_colors: Float[Tensor, "P 3"] | None = None
    """Seed point colours in [0, 1] (None: the file had points without colours)."""
    source: Path | None = None
    """The file or folder the dataset was read from."""
    format: str = ""
    """The reader that produced it (``blender``, ``nerfstudio``, ``colmap``, ...)."""

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        where = self.source or "SceneDataset"
        if self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise DatasetError(f"{where}: images must be [N,H,W,3], got {tuple(self.images.shape)}")
        h, w = self.images.shape[1:3]
        if (self.cameras.width, self.cameras.height) != (w, h) or len(self.cameras) != n:
            raise DatasetError(f"{where}: {len(self.cameras)} cameras of size "
                               f"{self.cameras.width}x{self.cameras.height} do not match {n} "
                               f"images of size {w}x{h}")
        for field in ("alpha", "depth"):
            value = getattr(self, field)
            if value is not None and tuple(value.shape) != (n, h, w, 1):
                raise DatasetError(f"{where}: {field} must be [{n},{h},{w},1], "
                                   f"got {tuple(value.shape)}")
        if len(self.names) != n or len(set(self.names)) != n:
            raise DatasetError(f"{where}: need {n} unique frame names, got {len(self.names)} "
                               f"({len(set(self.names))} unique)")
        for split, indices in self.splits.items():
            if len(indices) == 0:
                raise DatasetError(f"{where}: split {split!r} is empty")
            bad = [i for i in indices if not 0 <= i < n]
            if bad:
                raise DatasetError(f"{where}: split {split!r} has indices {bad[:5]} outside "
                                   f"[0, {n})")
        if self.points is not None and (self.points.ndim != 2 or self.points.shape[1] != 3):
            raise DatasetError(f"{where}: points must be [P,3], got {tuple(self.points.shape)}")
        if self.point_colors is not None and (
                self.points is None or self.point_colors.shape != self.points.shape):
            raise DatasetError(f"{where}: point_colors must match points [P,3]")

    def __len__(self) -> int:
        return self.images.shape[0]


def holdout_splits(n: int, every: int = HOLDOUT_EVERY) -> dict[str, list[int]]:
    """``test`` = every ``every``-th frame starting at 0, ``train`` = the rest.

    With a single frame there is nothing to hold out: it is the only, training, view.
    """
    if n <= 1:
        return {"train": list(range(n))}
    return {"train": [i for i in range(n) if i % every],
            "test": [i for i in range(n) if i % every == 0]}


def rig_radius(cameras: Cameras, indices: Sequence[int] | None = None) -> float:
    """1.1 x the largest distance of the cameras' centres from their mean (3DGS's scale).

    A single camera (or cameras at one spot) has no extent; 1.0 is returned then.
    """
    centers = cameras.centers.double()
    if indices is not None:
        centers = centers[torch.as_tensor(list(indices), dtype=torch.long)]
    radius = float((centers - centers.mean(0)).norm(dim=-1).max()) * 1.1
    return radius if radius > 1e-8 else 1.0
