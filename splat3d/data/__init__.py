"""Dataset readers for per-scene reconstruction.

``load_dataset(path)`` reads Blender / NeRF-synthetic, nerfstudio ``transforms.json``,
COLMAP, LLFF and ScanNet posed-image scenes into one :class:`SceneDataset`; errors are
:class:`DatasetError` (a ``ValueError``) naming the file and frame.
"""

from splat3d.data.dataset import SceneDataset, holdout_splits, rig_radius
from splat3d.data.errors import DatasetError, DatasetWarning
from splat3d.data.images import clear_image_cache
from splat3d.data.load import READERS, detect_format, load_dataset
from splat3d.data.transforms_json import read_transforms_cameras

__all__ = ["READERS", "DatasetError", "DatasetWarning", "SceneDataset", "clear_image_cache",
           "detect_format", "holdout_splits", "load_dataset", "read_transforms_cameras",
           "rig_radius"]
