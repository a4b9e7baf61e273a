"""The anchor-free 3D detector on Gaussians (3DGS-DET's detector, in FCAF3D's design).

* :mod:`~detection.model.features` - per-Gaussian features and their voxelisation.
* :mod:`~detection.model.backbone` - dense 3D conv backbone + top-down neck, several levels.
* :mod:`~detection.model.heads` - shared head: class, centerness, face distances, yaw.
* :mod:`~detection.model.box_coding` - boxes <-> distances to their six faces.
* :mod:`~detection.model.assign` - FCAF3D target assignment and centerness targets.
* :mod:`~detection.model.losses` - focal, centerness BCE and 3D IoU losses.
* :mod:`~detection.model.nms` - per-class greedy 3D NMS with the evaluation's IoU.
* :mod:`~detection.model.detector` - ``GaussianDetector``, ``DetectorConfig``, save / load.
* :mod:`~detection.model.data` - detection scenes, the scene-set folder reader, augmentation.
* :mod:`~detection.model.train` - ``train_detector``: AdamW, cosine schedule, checkpoints.
"""

from detection.model.assign import AssignConfig
from detection.model.data import (
    AugmentConfig,
    DetectionScene,
    augment_scene,
    read_detection_scenes,
)
from detection.model.detector import DetectorConfig, GaussianDetector, load_detector
from detection.model.features import gaussian_features
from detection.model.nms import nms_3d
from detection.model.train import DetectorTrainConfig, train_detector

__all__ = [
    "AssignConfig",
    "AugmentConfig",
    "DetectionScene",
    "DetectorConfig",
    "DetectorTrainConfig",
    "GaussianDetector",
    "augment_scene",
    "gaussian_features",
    "load_detector",
    "nms_3d",
    "read_detection_scenes",
    "train_detector",
]
