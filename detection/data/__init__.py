"""Dataset readers of the detection module: box container, class lists, ScanNet, ARKitScenes.

Modules, one concept each:

* :mod:`~detection.data.boxes` - :class:`Boxes3D`, the ``[K, 7]`` box convention.
* :mod:`~detection.data.classes` - the ScanNet (18) and ARKitScenes (17) class tables.
* :mod:`~detection.data.scannet_scene` - :class:`ScanNetScene` and VoteNet's box definition.
* :mod:`~detection.data.scannet_arrays` - VoteNet / mmdetection3d preprocessed ``.npy`` files.
* :mod:`~detection.data.scannet_raw` - raw ScanNet scans (mesh, aggregation, segments).
* :mod:`~detection.data.scannet_sens` - ScanNet ``.sens`` RGB-D streams -> SceneDataset.
* :mod:`~detection.data.arkitscenes` - ARKitScenes 3DOD annotations and the official split.
* :mod:`~detection.data.arkitscenes_frames` - ARKitScenes ``lowres_wide`` frames, ``.pincam``,
  ``.traj`` poses -> SceneDataset.
* :mod:`~detection.data.json_fields` - typed, finite-checked access to parsed JSON fields, shared
  by the JSON readers here and in :mod:`detection.eval`.
"""

from detection.data.arkitscenes import (
    ARKitScenesAnnotation,
    read_arkitscenes_annotation,
    read_arkitscenes_split,
)
from detection.data.arkitscenes_frames import (
    read_arkitscenes_frames,
    read_pincam,
    read_traj,
)
from detection.data.boxes import Boxes3D, bev_corners
from detection.data.classes import (
    ARKITSCENES_CLASSES,
    DATASET_CLASSES,
    SCANNET_CLASSES,
    SCANNET_NYU40_IDS,
    dataset_classes,
)
from detection.data.scannet_arrays import (
    list_scannet_array_scenes,
    load_scannet_array_boxes,
    load_scannet_array_scene,
)
from detection.data.scannet_raw import load_scannet_raw_scene, read_label_map
from detection.data.scannet_scene import ScanNetScene, instance_boxes
from detection.data.scannet_sens import (
    SensFormatError,
    SensStream,
    read_sens_dataset,
    read_sens_header,
)

__all__ = [
    "ARKITSCENES_CLASSES",
    "ARKitScenesAnnotation",
    "Boxes3D",
    "DATASET_CLASSES",
    "SCANNET_CLASSES",
    "SCANNET_NYU40_IDS",
    "ScanNetScene",
    "SensFormatError",
    "SensStream",
    "bev_corners",
    "dataset_classes",
    "instance_boxes",
    "list_scannet_array_scenes",
    "load_scannet_array_boxes",
    "load_scannet_array_scene",
    "load_scannet_raw_scene",
    "read_arkitscenes_annotation",
    "read_arkitscenes_frames",
    "read_arkitscenes_split",
    "read_label_map",
    "read_pincam",
    "read_sens_dataset",
    "read_sens_header",
    "read_traj",
]
