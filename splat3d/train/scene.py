"""What the trainer needs from a dataset, and how it reads it.

The trainer accepts any object with the attributes of :class:`SceneData` (the dataset
layer's ``SceneDataset`` provides them); every access to a dataset goes through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.cameras import Cameras


class SceneData(Protocol):
    """Posed images of one scene with named splits."""

    images: Float[Tensor, "N H W 3"]
    """Colour images in [0, 1], composited on ``background`` where there is alpha."""
    alpha: Float[Tensor, "N H W 1"] | None
    """Object masks / alpha, if the format has them."""
    cameras: Cameras
    """One camera per image."""
    splits: dict[str, Sequence[int]]
    """Split name -> image indices."""
    background: tuple[float, float, float]
    """Colour the images were composited on."""
    scene_scale: float
    """Radius of the camera rig (used to scale thresholds and learning rates)."""
    points: Float[Tensor, "P 3"] | None
    """Seed points (e.g. SfM), if any."""
    point_colors: Float[Tensor, "P 3"] | None
    """Seed point colours in [0, 1]."""
    names: list[str]
    """Frame names, used to name rendered files."""


def split_indices(data: SceneData, split: str) -> list[int]:
    """Indices of ``split``.

    Raises:
        ValueError: if the dataset has no such split; the message names the dataset, the
            splits it has and the two ways out (a common case: a Blender scene shipped
            without ``transforms_test.json``, which has no ``test`` split).
    """
    if split not in data.splits:
        source = getattr(data, "source", None)
        have = ", ".join(repr(s) for s in sorted(data.splits)) or "none"
        raise ValueError(
            f"{source or 'dataset'}: no split {split!r} (the dataset has {have}); give it one "
            f"(Blender: transforms_{split}.json; nerfstudio: {split}_filenames; the other "
            f"formats hold out every 8th of 2 or more frames as 'test') or choose one it has "
            f"with the config's eval_split")
    return [int(i) for i in data.splits[split]]


def frame_name(data: SceneData, index: int) -> str:
    """A file-system friendly name for image ``index``."""
    names = getattr(data, "names", None)
    raw = names[index] if names else f"view_{index:04d}"
    return raw.replace("/", "_").replace("\\", "_").rsplit(".", 1)[0]


def scene_center(data: SceneData) -> Float[Tensor, " 3"]:
    """Where the scene is: the seed points' mean; without points, the point closest (least
    squares) to all optical axes, which for an object-centric rig is the object; for nearly
    parallel axes (forward-facing captures), the camera centres' mean."""
    if data.points is not None and len(data.points):
        return data.points.float().mean(0)
    c2w = data.cameras.cam_to_world.double()
    dirs, centers = c2w[:, :3, 2], c2w[:, :3, 3]  # OpenCV: +z looks forward
    proj = torch.eye(3, dtype=torch.float64) - dirs[:, :, None] * dirs[:, None, :]  # [N,3,3]
    a, b = proj.sum(0), (proj @ centers[:, :, None]).sum(0)
    eig = torch.linalg.eigvalsh(a)
    if eig[0] < 1e-3 * eig[-1] or len(centers) < 2:
        return centers.mean(0).float()
    return torch.linalg.solve(a, b)[:, 0].float()


def background_color(data: SceneData) -> Float[Tensor, " 3"]:
    return torch.as_tensor(data.background, dtype=torch.float32).reshape(3)


def target_view(data: SceneData, index: int, background: Tensor,
                device: torch.device | str) -> tuple[Tensor, Tensor | None]:
    """Ground truth ``[1,H,W,3]`` re-composited on ``background`` and alpha ``[1,H,W,1]``.

    Raises:
        ValueError: if a background other than the dataset's is asked for without alpha.
    """
    image = data.images[index:index + 1].to(device)
    alpha = None if data.alpha is None else data.alpha[index:index + 1].to(device)
    bg = background.to(device)
    own = background_color(data).to(device)
    if not torch.equal(bg, own):
        if alpha is None:
            raise ValueError("a training background different from the dataset's needs "
                             "per-pixel alpha, and this dataset has none")
        image = image + (bg - own) * (1.0 - alpha)
    return image, alpha
