"""Scene layers drawn by viser on top of the splats: labelled 3D boxes and training cameras."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import viser
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from splat3d.cameras import Cameras
from viewer.camera_bridge import ViserPose, viser_pose_from_cameras

_PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
], dtype=np.uint8)
"""Distinct colours for boxes given without colours, picked by label."""


def yaw_to_wxyz(yaw: float) -> tuple[float, float, float, float]:
    """Quaternion of a counter-clockwise rotation by ``yaw`` radians about +z
    (the :mod:`detection.data.boxes` convention)."""
    return (math.cos(0.5 * yaw), 0.0, 0.0, math.sin(0.5 * yaw))


class BoxLayer:
    """Named groups of yaw-oriented, labelled wireframe boxes (e.g. detections)."""

    def __init__(self, scene: viser.SceneApi, root: str = "/boxes") -> None:
        self._scene = scene
        self._root = root
        self._groups: dict[str, list[viser.SceneNodeHandle]] = {}

    def set_group(
        self,
        name: str,
        centers: Float[np.ndarray, "K 3"],
        sizes: Float[np.ndarray, "K 3"],
        yaws: Float[np.ndarray, " K"],
        labels: Sequence[str] | None = None,
        colors: Float[np.ndarray, "K 3"] | None = None,
    ) -> None:
        """Draw ``K`` boxes as group ``name``, replacing the group's previous boxes.

        Args:
            centers: geometric box centres, world coordinates.
            sizes: full edge lengths along the box's own x, y, z axes.
            yaws: counter-clockwise rotation about world +z, radians.
            labels: text shown above each box (none when omitted).
            colors: RGB per box, floats in [0, 1] or 0-255 integers; by label otherwise.
        """
        centers, sizes, yaws = (_as_numpy(a) for a in (centers, sizes, yaws))
        k = centers.shape[0] if centers.ndim == 2 else -1
        for field, value, shape in (("centers", centers, (k, 3)), ("sizes", sizes, (k, 3)),
                                    ("yaws", yaws, (k,))):
            if value.shape != shape:
                raise ValueError(f"add_boxes: {field} must have shape {shape} "
                                 f"(K from centers), got {value.shape}")
        if labels is not None and len(labels) != k:
            raise ValueError(f"add_boxes: {k} boxes but {len(labels)} labels")
        rgb = _box_colors(colors, labels, k)
        self.remove_group(name)
        handles: list[viser.SceneNodeHandle] = []
        for i in range(k):
            node = f"{self._root}/{name}/{i}"
            handles.append(self._scene.add_box(
                node, color=tuple(int(c) for c in rgb[i]),
                dimensions=tuple(float(s) for s in sizes[i]), wireframe=True,
                wxyz=yaw_to_wxyz(float(yaws[i])), position=tuple(float(c) for c in centers[i])))
            if labels is not None:
                # A child node: the label rides on the box's frame, at its top face.
                handles.append(self._scene.add_label(
                    f"{node}/label", str(labels[i]), position=(0.0, 0.0, 0.5 * float(sizes[i, 2])),
                    anchor="bottom-center"))
        self._groups[name] = handles

    def remove_group(self, name: str) -> None:
        """Remove group ``name`` (no error if it does not exist)."""
        for handle in reversed(self._groups.pop(name, [])):
            handle.remove()

    @property
    def groups(self) -> dict[str, int]:
        """Group name -> number of scene nodes (boxes and labels) drawn for it."""
        return {name: len(handles) for name, handles in self._groups.items()}


class CameraLayer:
    """Training cameras as clickable frustums, with image thumbnails when available."""

    def __init__(
        self,
        scene: viser.SceneApi,
        cameras: Cameras,
        on_select: Callable[[viser.ClientHandle, int], None],
        images: Float[Tensor, "C H W 3"] | None = None,
        names: Sequence[str] | None = None,
        thumbnail_size: int = 96,
        root: str = "/training_cameras",
    ) -> None:
        """Draw every camera; clicking one calls ``on_select(client, index)``."""
        if images is not None and len(images) != len(cameras):
            raise ValueError(f"training cameras: {len(cameras)} cameras but {len(images)} images")
        if names is not None and len(names) != len(cameras):
            raise ValueError(f"training cameras: {len(cameras)} cameras but {len(names)} names")
        self.names = list(names) if names is not None else [f"camera {i}"
                                                             for i in range(len(cameras))]
        self.poses = [viser_pose_from_cameras(cameras, i) for i in range(len(cameras))]
        scale = _frustum_scale(cameras)
        self._handles = []
        for i, pose in enumerate(self.poses):
            thumb = None if images is None else thumbnail(images[i], thumbnail_size)
            handle = scene.add_camera_frustum(
                f"{root}/{i:04d}", fov=pose.fov_y, aspect=pose.aspect, scale=scale,
                thickness=0.05 * scale, color=(40, 90, 200), image=thumb, format="jpeg",
                wxyz=pose.wxyz, position=pose.position)
            handle.on_click(lambda event, index=i: on_select(event.client, index))
            self._handles.append(handle)

    def set_visible(self, visible: bool) -> None:
        for handle in self._handles:
            handle.visible = visible

    def __len__(self) -> int:
        return len(self.poses)


def go_to_pose(client: viser.ClientHandle, pose: ViserPose) -> None:
    """Move a browser's viewport camera to ``pose`` (position, orientation, vertical fov)."""
    with client.atomic():
        client.camera.fov = pose.fov_y
        client.camera.position = pose.position
        client.camera.wxyz = pose.wxyz


def thumbnail(image: Float[Tensor, "H W 3"], max_side: int) -> np.ndarray:
    """Downscaled 8-bit copy of an image in [0, 1] whose longer side is ``max_side``."""
    arr = (image.detach().float().cpu().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    pil = Image.fromarray(arr)
    pil.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(pil)


def _frustum_scale(cameras: Cameras) -> float:
    # A small fraction of the rig's spread keeps frustums visible without hiding the scene.
    centers = cameras.centers.detach().double()
    spread = float((centers - centers.mean(0)).norm(dim=-1).max()) if len(cameras) > 1 else 1.0
    return 0.07 * spread if spread > 0 else 0.07


def _box_colors(colors: np.ndarray | Tensor | None, labels: Sequence[str] | None,
                k: int) -> np.ndarray:
    if colors is None:
        keys = labels if labels is not None else [""] * k
        table = {label: i for i, label in enumerate(dict.fromkeys(keys))}
        return _PALETTE[[table[label] % len(_PALETTE) for label in keys]].reshape(k, 3)
    rgb = _as_numpy(colors)
    if rgb.shape != (k, 3):
        raise ValueError(f"add_boxes: colors must have shape ({k}, 3), got {rgb.shape}")
    if np.issubdtype(rgb.dtype, np.floating):
        rgb = np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5
    return rgb.astype(np.uint8)


def _as_numpy(value: np.ndarray | Tensor | Sequence) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
