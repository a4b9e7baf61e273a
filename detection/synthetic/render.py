"""Render a synthetic room: a camera trajectory inside it, RGB, depth, instance masks, 2D boxes.

The camera walks around the object-free disc in the middle of the room
(:class:`~detection.synthetic.rooms.Room`), looking outwards at the furniture along the
walls and slightly down, at two alternating eye heights, as a hand-held indoor scan does.
Every view is rendered twice with :func:`splat3d.rasterize.rasterize`: once in colour (with
depth), once with one-hot instance features (``colors=``), so each pixel gets the weight of
every instance along its ray; the pixel's instance is the heaviest one when the pixel is
covered (alpha >= 0.5), ``0`` (background / room structure) otherwise. A 2D box per visible
instance (at least ``min_box_pixels`` pixels) is the tight pixel-edge rectangle of its mask,
with its class and score 1: the ground-truth 2D boxes of the view.

Example:
    >>> from detection.synthetic.rooms import RoomConfig, generate_room
    >>> views = render_room(generate_room(RoomConfig(), 0), RenderConfig(num_views=2))
    >>> views.images.shape
    torch.Size([2, 48, 64, 3])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from detection.synthetic.rooms import Room
from splat3d.cameras import Cameras
from splat3d.rasterize import Backend, rasterize


@dataclass(frozen=True)
class RenderConfig:
    """Camera trajectory and image settings."""

    num_views: int = 24
    """Number of views around the room."""
    width: int = 64
    """Image width in pixels."""
    height: int = 48
    """Image height in pixels."""
    fov_x: float = 1.45
    """Horizontal field of view, radians (about 83 degrees, a wide indoor lens)."""
    eye_heights: tuple[float, ...] = (1.25, 1.65)
    """Camera heights, metres, used in turn."""
    look_height: float = 0.45
    """Height of the point 2.5 m ahead each camera looks at (sets the downward pitch)."""
    ring_fraction: float = 0.5
    """The cameras walk on a circle of this fraction of the room's free radius."""
    yaw_jitter: float = 0.15
    """Random deviation of the viewing direction from straight outwards, radians."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Colour where a ray leaves the room (over the walls when there is no ceiling)."""
    min_box_pixels: int = 12
    """An instance needs this many mask pixels in a view to get a 2D box there."""
    backend: Backend = "auto"
    """Rasterizer backend."""


@dataclass
class RoomViews:
    """The rendered views of one room."""

    images: Float[Tensor, "V H W 3"]
    """RGB in [0, 1]."""
    depth: Float[Tensor, "V H W"]
    """Expected camera depth (z), 0 where nothing was hit."""
    masks: Int[Tensor, "V H W"]
    """Instance id per pixel (0: background / structure, k: the object of GT box k-1)."""
    cameras: Cameras
    """The ``V`` posed cameras (OpenCV convention)."""
    boxes2d: list[Float[Tensor, "B 4"]]
    """Per view, ``(x0, y0, x1, y1)`` pixel-edge boxes of the visible instances."""
    box_instances: list[Int[Tensor, " B"]]
    """Per view, the instance id of each 2D box."""


def room_cameras(room: Room, config: RenderConfig, seed: int = 0) -> Cameras:
    """The trajectory: ``num_views`` cameras on a ring around the room centre, looking out."""
    if config.num_views < 1:
        raise ValueError(f"RenderConfig.num_views must be >= 1, got {config.num_views}")
    gen = torch.Generator().manual_seed(seed)
    n = config.num_views
    angle = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    radius = config.ring_fraction * room.free_radius
    heights = torch.tensor([config.eye_heights[i % len(config.eye_heights)] for i in range(n)],
                           dtype=torch.float64)
    eye = torch.stack([radius * angle.cos(), radius * angle.sin(), heights], -1)
    look = angle + config.yaw_jitter * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1)
    target = torch.stack([eye[:, 0] + 2.5 * look.cos(), eye[:, 1] + 2.5 * look.sin(),
                          torch.full((n,), config.look_height, dtype=torch.float64)], -1)
    return Cameras.from_look_at(eye.float(), target.float(), fov_x=config.fov_x,
                                width=config.width, height=config.height)


def mask_boxes(mask: Int[Tensor, "H W"], min_pixels: int) -> tuple[Tensor, Tensor]:
    """Tight pixel-edge boxes ``[B, 4]`` of every instance id > 0 with ``>= min_pixels``
    pixels, and their ids ``[B]`` (ascending)."""
    ids, counts = torch.unique(mask[mask > 0], return_counts=True)
    ids = ids[counts >= min_pixels]
    boxes = []
    for k in ids.tolist():
        ys, xs = torch.nonzero(mask == k, as_tuple=True)
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), ids.long()


@torch.no_grad()
def render_room(room: Room, config: RenderConfig, seed: int = 0) -> RoomViews:
    """Render colour, depth and instance masks of every view, and the 2D boxes.

    Args:
        room: the room (its Gaussians and per-Gaussian instance ids).
        config: trajectory and image settings.
        seed: seed of the trajectory's jitter.
    """
    cams = room_cameras(room, config, seed)
    num_ids = int(room.instance_ids.max()) + 1
    onehot = torch.nn.functional.one_hot(room.instance_ids, num_ids).float()  # [N, I+1]
    bg = torch.tensor(config.background)
    images, depths, masks, boxes, box_ids = [], [], [], [], []
    for v in range(len(cams)):  # one view at a time keeps memory flat
        out = rasterize(room.gaussians, cams[v], background=bg, backend=config.backend)
        weights = rasterize(room.gaussians, cams[v], colors=onehot, backend=config.backend)
        mask = weights.rgb[0].argmax(-1)
        mask = torch.where(weights.alpha[0, ..., 0] >= 0.5, mask, 0)  # [H, W]
        b, k = mask_boxes(mask, config.min_box_pixels)
        images.append(out.rgb[0].clamp(0, 1))
        depths.append(torch.where(out.alpha[0, ..., 0] > 1e-3, out.depth[0, ..., 0], 0.0))
        masks.append(mask)
        boxes.append(b)
        box_ids.append(k)
    return RoomViews(torch.stack(images), torch.stack(depths), torch.stack(masks), cams, boxes,
                     box_ids)


def save_views(path, views: RoomViews) -> None:
    """Write ``views`` as one ``.npz`` file, atomically (images as 8-bit, masks as int16)."""
    from splat3d.fileio import atomic_path, to_uint8

    box_counts = np.array([len(b) for b in views.boxes2d], dtype=np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f, images=to_uint8(views.images), depth=views.depth.numpy().astype(np.float32),
            masks=views.masks.numpy().astype(np.int16), K=views.cameras.K.numpy(),
            world_to_cam=views.cameras.world_to_cam.numpy(),
            size=np.array([views.cameras.width, views.cameras.height]),
            boxes2d=torch.cat(views.boxes2d).numpy().reshape(-1, 4),
            box_instances=torch.cat(views.box_instances).numpy(), box_counts=box_counts)


def load_views(path) -> RoomViews:
    """Read a :func:`save_views` file.

    Raises:
        OSError: when the file is missing or not a views archive (naming the file).
    """
    try:
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise OSError(f"{path}: cannot read rendered views ({err})") from None
    required = {"images", "depth", "masks", "K", "world_to_cam", "size", "boxes2d",
                "box_instances", "box_counts"}
    if not required <= set(data):
        raise OSError(f"{path}: not a views archive, missing {sorted(required - set(data))}")
    w, h = (int(v) for v in data["size"])
    cams = Cameras(torch.from_numpy(data["K"]), torch.from_numpy(data["world_to_cam"]), w, h)
    splits = np.cumsum(data["box_counts"])[:-1]
    return RoomViews(
        torch.from_numpy(data["images"]).float() / 255.0, torch.from_numpy(data["depth"]),
        torch.from_numpy(data["masks"].astype(np.int64)), cams,
        [torch.from_numpy(b) for b in np.split(data["boxes2d"], splits)],
        [torch.from_numpy(k) for k in np.split(data["box_instances"], splits)])
