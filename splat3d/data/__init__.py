"""Dataset readers for per-scene reconstruction (Blender, nerfstudio, COLMAP, LLFF, ScanNet)."""

from splat3d.data.errors import DatasetError, DatasetWarning
from splat3d.data.transforms_json import read_transforms_cameras

__all__ = ["DatasetError", "DatasetWarning", "read_transforms_cameras"]
