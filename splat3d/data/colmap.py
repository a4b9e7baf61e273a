"""COLMAP scenes: ``images/`` beside ``sparse/0/`` (the layout 3D Gaussian Splatting reads).

Poses are COLMAP's world-to-camera ``(q, t)`` (OpenCV convention). Camera models map onto
:class:`~splat3d.data.camera_model.CameraModel`:

==================  ==========================================
``SIMPLE_PINHOLE``  ``f cx cy``
``PINHOLE``         ``fx fy cx cy``
``SIMPLE_RADIAL``   ``f cx cy k`` (k1 = k)
``RADIAL``          ``f cx cy k1 k2``
``OPENCV``          ``fx fy cx cy k1 k2 p1 p2``
==================  ==========================================

and distorted images are undistorted to pinhole cameras (:mod:`splat3d.data.undistort`).
Fisheye and the other models are refused. Images are ordered by name and every 8th is a
test view (3DGS's ``--eval`` with ``llffhold=8``); ``points3D`` are the seed points.
``images_N/`` folders (Mip-NeRF 360) are used for ``downscale=N`` when complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from splat3d import conventions
from splat3d.data.assemble import build_dataset
from splat3d.data.camera_model import CameraModel
from splat3d.data.colmap_model import ColmapCamera, ColmapImage, read_colmap_model
from splat3d.data.dataset import SceneDataset, holdout_splits
from splat3d.data.errors import DatasetError
from splat3d.data.frames import FrameRecord, dataset_file, frame_names, prefer_prescaled
from splat3d.data.poses import checked_c2w
from splat3d.gaussians import quat_to_rotmat

SUPPORTED_COLMAP_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")


def find_sparse_model(root: Path) -> Path | None:
    """The model folder of a scene: ``sparse/0``, ``sparse`` or ``root`` itself."""
    for folder in (root / "sparse" / "0", root / "sparse", root):
        if any((folder / f"cameras{ext}").is_file() for ext in (".bin", ".txt")):
            return folder
    return None


def colmap_camera_model(cam: ColmapCamera, where: str) -> CameraModel:
    """The :class:`CameraModel` of a COLMAP camera, or a :class:`DatasetError`."""
    p = cam.params
    size = {"width": int(cam.width), "height": int(cam.height)}
    if cam.model == "SIMPLE_PINHOLE":
        model = CameraModel(p[0], p[0], p[1], p[2], **size)
    elif cam.model == "PINHOLE":
        model = CameraModel(p[0], p[1], p[2], p[3], **size)
    elif cam.model == "SIMPLE_RADIAL":
        model = CameraModel(p[0], p[0], p[1], p[2], **size, k1=p[3])
    elif cam.model == "RADIAL":
        model = CameraModel(p[0], p[0], p[1], p[2], **size, k1=p[3], k2=p[4])
    elif cam.model == "OPENCV":
        model = CameraModel(*p[:4], **size, k1=p[4], k2=p[5], p1=p[6], p2=p[7])
    else:
        raise DatasetError(f"{where}: unsupported COLMAP camera model {cam.model!r}; "
                           f"supported: {', '.join(SUPPORTED_COLMAP_MODELS)}")
    return model.check(where)


def colmap_c2w(image: ColmapImage, where: str) -> np.ndarray:
    """OpenCV camera-to-world ``[4,4]`` of a COLMAP image (checked rigid)."""
    q = np.asarray(image.qvec, dtype=np.float64)
    if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-8:
        raise DatasetError(f"{where}: invalid rotation quaternion {q.tolist()}")
    w2c = np.eye(4)
    w2c[:3, :3] = quat_to_rotmat(torch.from_numpy(q)).numpy()
    w2c[:3, 3] = image.tvec
    w2c = checked_c2w(w2c, where)
    return conventions.invert_rigid(torch.from_numpy(w2c)).numpy()


def read_colmap(
    root: Path, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0),
    images_dir: str = "images",
) -> SceneDataset:
    """Read a COLMAP scene folder (``root/images`` + ``root/sparse/0``).

    Args:
        root: the scene folder.
        downscale: integer image downscale factor.
        background: compositing colour for images with alpha.
        images_dir: name of the images folder inside ``root``.

    Raises:
        DatasetError: no model, an unsupported camera model, a bad pose, a missing image,
            images whose size differs from their camera, cameras of different sizes.
    """
    root = Path(root)
    sparse = find_sparse_model(root)
    if sparse is None:
        raise DatasetError(f"{root}: no COLMAP model in sparse/0, sparse or the folder itself")
    model = read_colmap_model(sparse)
    if not model.images:
        raise DatasetError(f"{sparse}: the model has no registered images")
    image_root = root / images_dir
    images = sorted(model.images.values(), key=lambda im: im.name)
    paths = [dataset_file(image_root, im.name, f"{model.images_path} image {im.image_id}",
                          "name") for im in images]
    names = frame_names(paths, image_root)
    records = []
    for im, path, name in zip(images, paths, names, strict=True):
        where = f"{model.images_path} image {im.image_id} ({im.name!r})"
        if im.camera_id not in model.cameras:
            raise DatasetError(f"{where}: refers to camera {im.camera_id}, which is not in the "
                               f"model")
        cam = colmap_camera_model(model.cameras[im.camera_id],
                                  f"{model.cameras_path} camera {im.camera_id}, used by "
                                  f"{model.images_path.name} image {im.image_id} ({im.name!r})")
        records.append(FrameRecord(name=name, image_path=path, c2w=colmap_c2w(im, where),
                                   camera=cam))
    records = prefer_prescaled(
        records, [root / f"{images_dir}_{downscale}" / im.name for im in images], downscale)
    points = colors = None
    if len(model.points_xyz):
        points = model.points_xyz.astype(np.float32)
        colors = model.points_rgb.astype(np.float32) / 255.0
        bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
        if bad.size:
            raise DatasetError(f"{sparse}: 3D point {bad[0]} is not finite")
    return build_dataset(records, holdout_splits(len(records)), root, "colmap", downscale,
                         background, points, colors)
