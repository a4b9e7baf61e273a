"""Blender / NeRF-synthetic scenes (Mildenhall et al., ECCV 2020).

Layout: ``transforms_train.json``, ``transforms_val.json``, ``transforms_test.json`` beside
``train/``, ``val/``, ``test/`` folders of 800x800 RGBA PNGs; each JSON has a global
``camera_angle_x`` and frames with ``file_path`` (no suffix) and an OpenGL camera-to-world
``transform_matrix`` (parsed by :mod:`splat3d.data.transforms_json`). Images are composited
onto ``background`` (white by default, as in the NeRF and 3DGS papers); their alpha is kept.
Frame names are ``r_0``-style stems, or ``train/r_0``-style paths because the test and
train splits reuse stems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from splat3d.data.assemble import build_dataset
from splat3d.data.dataset import SceneDataset
from splat3d.data.errors import DatasetError
from splat3d.data.frames import FrameRecord, frame_names
from splat3d.data.transforms_json import parse_transforms

BLENDER_SPLIT_FILES = {"train": "transforms_train.json", "val": "transforms_val.json",
                       "test": "transforms_test.json"}
"""Split name -> JSON file name of the standard release."""


def read_blender(
    root: Path, downscale: int = 1, background: Sequence[float] = (1.0, 1.0, 1.0),
    split_files: Mapping[str, str] | None = None,
) -> SceneDataset:
    """Read a NeRF-synthetic scene folder.

    Args:
        root: the scene folder.
        downscale: integer image downscale factor (box filter; intrinsics follow).
        background: RGB in [0, 1] the RGBA images are composited onto.
        split_files: split name -> JSON file name in ``root``. By default the standard three,
            each skipped if absent; files named explicitly must exist.

    Raises:
        DatasetError: no split file, or any error of the JSON parsing and image loading.
    """
    root = Path(root)
    explicit = split_files is not None
    files = dict(split_files) if explicit else BLENDER_SPLIT_FILES
    records: list[FrameRecord] = []
    splits: dict[str, list[int]] = {}
    for split, name in files.items():
        path = root / name
        if not path.is_file():
            if explicit:
                raise DatasetError(f"{path}: split file for {split!r} not found")
            continue
        parsed = parse_transforms(path)
        splits[split] = list(range(len(records), len(records) + len(parsed.records)))
        records += parsed.records
    if not splits:
        raise DatasetError(f"{root}: no Blender split file found (looked for "
                           f"{', '.join(files.values())})")
    names = frame_names([r.image_path for r in records], root)
    records = [replace(r, name=n) for r, n in zip(records, names, strict=True)]
    return build_dataset(records, splits, root, "blender", downscale, background)
