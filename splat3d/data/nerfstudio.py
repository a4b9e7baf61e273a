"""nerfstudio ``transforms.json`` scenes (nerfstudio docs, "Data conventions"; the format
``ns-process-data`` writes).

On top of :mod:`splat3d.data.transforms_json` (poses, global or per-frame intrinsics,
``PINHOLE``/``OPENCV`` models, undistorted here to pinhole) this reader uses:

* ``depth_file_path`` (per frame): a single-channel depth image, multiplied by the global
  ``depth_unit_scale_factor`` (default ``1e-3``, i.e. millimetres to metres);
* ``ply_file_path``: seed points with colours (:mod:`splat3d.data.seed_points`);
* ``train_filenames`` / ``val_filenames`` / ``test_filenames``: explicit splits, matched
  against the frames' ``file_path``; without them, frames sorted by ``file_path`` are split
  by :func:`~splat3d.data.dataset.holdout_splits` (every 8th frame is a test view);
* ``images_N/`` beside the JSON: pre-downscaled copies, used for ``downscale=N`` when every
  frame has one (nerfstudio's convention).

Frames are ordered by ``file_path`` (as nerfstudio does). Unlike nerfstudio's parser, poses
are not re-oriented, re-centred or re-scaled (``applied_transform`` is ignored), and
``mask_path`` is ignored: a loss mask is not an alpha channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from splat3d.data.assemble import build_dataset
from splat3d.data.dataset import SceneDataset, holdout_splits
from splat3d.data.errors import DatasetError
from splat3d.data.frames import dataset_file, prefer_prescaled
from splat3d.data.seed_points import read_seed_points
from splat3d.data.transforms_json import json_number, normalised_file_path, parse_transforms

SPLIT_KEYS = {"train": "train_filenames", "val": "val_filenames", "test": "test_filenames"}


def _explicit_splits(meta: dict, file_paths: list[str], path: Path) -> dict[str, list[int]]:
    index = {p: i for i, p in enumerate(file_paths)}
    splits = {}
    for split, key in SPLIT_KEYS.items():
        if key not in meta:
            continue
        listed = meta[key]
        if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
            raise DatasetError(f"{path}: {key!r} must be a list of file names")
        if not listed:
            raise DatasetError(f"{path}: {key!r} is empty")
        missing = [f for f in listed if normalised_file_path(f) not in index]
        if missing:
            raise DatasetError(f"{path}: {key!r} names {len(missing)} file(s) that are not "
                               f"frames, e.g. {missing[:3]}")
        splits[split] = sorted(index[normalised_file_path(f)] for f in listed)
    return splits


def read_nerfstudio(
    path: Path, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0)
) -> SceneDataset:
    """Read a nerfstudio scene: ``path`` is ``transforms.json`` or the folder holding it.

    Raises:
        DatasetError: see :func:`~splat3d.data.transforms_json.parse_transforms`; also a
            split list naming unknown files, an unreadable depth or seed-point file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "transforms.json"
    parsed = parse_transforms(path)
    root = path.parent
    scale = json_number(parsed.meta.get("depth_unit_scale_factor", 1e-3),
                        "depth_unit_scale_factor", str(path))
    if not scale > 0:
        raise DatasetError(f"{path}: 'depth_unit_scale_factor' must be a positive number, "
                           f"got {scale!r}")
    records = []
    for i, (frame, rec) in enumerate(zip(parsed.meta["frames"], parsed.records, strict=True)):
        depth = frame.get("depth_file_path")
        if depth is not None and not isinstance(depth, str):
            raise DatasetError(f"{path} frame {i}: 'depth_file_path' must be a string")
        records.append(rec if depth is None else replace(
            rec, depth_path=dataset_file(root, normalised_file_path(depth), f"{path} frame {i}",
                                         "depth_file_path"),
            depth_scale=float(scale)))
    order = sorted(range(len(records)), key=lambda i: parsed.file_paths[i])
    records = [records[i] for i in order]
    file_paths = [parsed.file_paths[i] for i in order]
    splits = _explicit_splits(parsed.meta, file_paths, path) or holdout_splits(len(records))
    records = prefer_prescaled(
        records, [root / f"images_{downscale}" / r.image_path.name for r in records], downscale)
    points = colors = None
    if parsed.meta.get("ply_file_path") is not None:
        ply = parsed.meta["ply_file_path"]
        if not isinstance(ply, str):
            raise DatasetError(f"{path}: 'ply_file_path' must be a string, got {ply!r}")
        points, colors = read_seed_points(
            dataset_file(root, normalised_file_path(ply), str(path), "ply_file_path"))
    return build_dataset(records, splits, path, "nerfstudio", downscale, background,
                         points, colors)
