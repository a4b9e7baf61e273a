"""Turning frame records into a :class:`~splat3d.data.dataset.SceneDataset`.

The one place that loads pixels: for each record it checks the image file's size against
the intrinsics, decodes it through the image cache with the requested box-filter downscale,
rescales the intrinsics to the loaded size (:meth:`CameraModel.resized`), removes lens
distortion (:mod:`splat3d.data.undistort`, after the downscale and after compositing RGBA
onto the background, so interpolation mixes composited colours) and loads depth.
Distortion is removed after downscaling so the cache holds the decoded files only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from splat3d.cameras import Cameras
from splat3d.data.dataset import SceneDataset, rig_radius
from splat3d.data.errors import DatasetError
from splat3d.data.frames import FrameRecord, common_size
from splat3d.data.images import load_depth, load_image, read_image_size
from splat3d.data.undistort import undistort_image, undistorted_camera


def check_downscale(downscale: object) -> int:
    """``downscale`` as a positive int, or a :class:`DatasetError`."""
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) \
            or downscale < 1:
        raise DatasetError(f"downscale must be a positive integer, got {downscale!r}")
    return int(downscale)


def check_background(background: Sequence[float]) -> tuple[float, float, float]:
    """``background`` as an RGB triple in [0, 1], or a :class:`DatasetError`."""
    try:
        rgb = tuple(float(c) for c in background)
    except (TypeError, ValueError):
        raise DatasetError(f"background must be three numbers, got {background!r}") from None
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise DatasetError(f"background must be an RGB triple in [0, 1], got {background!r}")
    return rgb  # type: ignore[return-value]


def _check_file_size(rec: FrameRecord, where: str) -> None:
    w, h = read_image_size(rec.image_path, where)
    n = rec.image_downscale
    full_w, full_h = rec.camera.size
    ok = (w, h) == (full_w, full_h) if n == 1 else (
        abs(w * n - full_w) < n and abs(h * n - full_h) < n)
    if not ok:
        expected = f"{full_w}x{full_h}" if n == 1 else f"{full_w}x{full_h} / {n}"
        raise DatasetError(f"{where}: image {rec.image_path} is {w}x{h} but the intrinsics are "
                           f"for {expected}")


def build_dataset(
    records: Sequence[FrameRecord], splits: Mapping[str, Sequence[int]], source: Path,
    format: str, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0),
    points: np.ndarray | None = None, point_colors: np.ndarray | None = None,
) -> SceneDataset:
    """Load the images of ``records`` and assemble the dataset.

    Args:
        records: frames in dataset order.
        splits: split name -> indices into ``records``.
        source, format: recorded in the dataset and used in messages.
        downscale: integer factor; must be a multiple of each record's ``image_downscale``.
        background: RGB in [0, 1] that RGBA images are composited onto.
        points, point_colors: optional seed points ``[P,3]`` and colours in [0, 1].

    Raises:
        DatasetError: no frames, an empty split, a missing/unreadable image or one whose
            size disagrees with its intrinsics, frames of different sizes.
    """
    downscale = check_downscale(downscale)
    bg = check_background(background)
    if not records:
        raise DatasetError(f"{source}: no frames")
    for split, indices in splits.items():
        if len(indices) == 0:
            raise DatasetError(f"{source}: split {split!r} is empty")
    common_size(records, source)
    n = len(records)
    images = alpha = depth = None
    has_alpha = np.zeros(n, dtype=bool)
    Ks = []
    for i, rec in enumerate(records):
        where = f"{source} frame {rec.name!r}"
        if downscale % rec.image_downscale:
            raise DatasetError(f"{where}: downscale {downscale} is not a multiple of the stored "
                               f"image's downscale {rec.image_downscale}")
        _check_file_size(rec, where)
        pixels = load_image(rec.image_path, where, downscale // rec.image_downscale)
        h, w = pixels.shape[:2]
        cam = rec.camera.resized(w, h)
        target = undistorted_camera(cam, where)
        rgba = pixels.astype(np.float32) / 255.0  # [H, W, 3 or 4]
        if rgba.shape[-1] == 4:  # composite first: interpolating composited colours is exact
            a = rgba[..., 3:]
            rgba[..., :3] = rgba[..., :3] * a + np.asarray(bg, dtype=np.float32) * (1.0 - a)
        if not cam.is_pinhole:
            rgba = undistort_image(rgba, cam, target)
        if images is None:
            images = torch.empty(n, h, w, 3)
            alpha = torch.ones(n, h, w, 1)
        elif images.shape[1:3] != (h, w):
            raise DatasetError(f"{where}: loaded image is {w}x{h} but {records[0].name!r} is "
                               f"{images.shape[2]}x{images.shape[1]}")
        if rgba.shape[-1] == 4:
            alpha[i] = torch.from_numpy(np.ascontiguousarray(rgba[..., 3:]))
            has_alpha[i] = True
        images[i] = torch.from_numpy(np.ascontiguousarray(rgba[..., :3]))
        if rec.depth_path is not None:
            d = load_depth(rec.depth_path, where, rec.depth_scale,
                           downscale // rec.image_downscale)
            if d.shape != (h, w):
                raise DatasetError(f"{where}: depth image {rec.depth_path} does not match the "
                                   f"colour image size {w}x{h}")
            if not cam.is_pinhole:
                d = undistort_image(d[..., None], cam, target, nearest=True)[..., 0]
            if depth is None:
                depth = torch.zeros(n, h, w, 1)
            depth[i, ..., 0] = torch.from_numpy(np.ascontiguousarray(d))
        Ks.append(target.K())
    h, w = images.shape[1:3]
    K = torch.tensor(np.stack(Ks), dtype=torch.float32)
    c2w = torch.tensor(np.stack([r.c2w for r in records]), dtype=torch.float64)
    cameras = Cameras.from_opencv_c2w(c2w, K, w, h)
    split_lists = {k: [int(i) for i in v] for k, v in splits.items()}
    return SceneDataset(
        images=images, cameras=cameras, splits=split_lists, names=[r.name for r in records],
        scene_scale=rig_radius(cameras, split_lists.get("train")), background=bg,
        alpha=alpha if has_alpha.any() else None, depth=depth,
        points=None if points is None else torch.as_tensor(points, dtype=torch.float32),
        point_colors=None if point_colors is None else torch.as_tensor(
            point_colors, dtype=torch.float32),
        source=Path(source), format=format)
