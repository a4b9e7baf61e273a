"""Seed point clouds from PLY files (nerfstudio's ``ply_file_path``, e.g. COLMAP points).

Reads the ``vertex`` element's ``x y z`` and, when present, ``red green blue`` (uint8 ->
[0, 1]; floating-point colours are taken as already in [0, 1]). The container (ASCII and
binary) is read by :func:`splat3d.io.ply.read_ply`, which checks the header first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from splat3d.data.errors import DatasetError
from splat3d.io.ply import PlyFormatError, read_ply


def read_seed_points(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(xyz [P,3] float32, rgb [P,3] float32 in [0,1] or None)`` from a PLY file.

    Raises:
        DatasetError: missing/unreadable file, no ``vertex`` element or ``x y z``
            properties, non-finite coordinates (the first bad vertex is named).
    """
    try:
        ply = read_ply(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: seed point file not found") from None
    except PlyFormatError as err:  # its message already starts with the path
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read PLY: {err}") from None
    if "vertex" not in ply:
        raise DatasetError(f"{path}: PLY has no 'vertex' element")
    vertex = ply["vertex"].data
    names = set(vertex.dtype.names or ())
    if not {"x", "y", "z"} <= names:
        raise DatasetError(f"{path}: PLY vertices lack x/y/z (have {sorted(names)})")
    xyz = np.stack([vertex[k] for k in ("x", "y", "z")], axis=-1).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
    if bad.size:
        raise DatasetError(f"{path}: vertex {bad[0]} has non-finite coordinates {xyz[bad[0]]}")
    if not {"red", "green", "blue"} <= names:
        return xyz, None
    rgb = np.stack([vertex[k] for k in ("red", "green", "blue")], axis=-1)
    if np.issubdtype(rgb.dtype, np.integer):
        rgb = rgb.astype(np.float32) / float(np.iinfo(rgb.dtype).max)
    return xyz, np.clip(rgb.astype(np.float32), 0.0, 1.0)
