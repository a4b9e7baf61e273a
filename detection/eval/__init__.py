"""Evaluation of 3D detections: exact 3D IoU, VOC average precision, result files and tables.

* :mod:`~detection.eval.iou3d` - exact IoU of axis-aligned and yaw-oriented boxes.
* :mod:`~detection.eval.average_precision` - per-class VOC AP and mAP (VoteNet/mmdet3d rules).
* :mod:`~detection.eval.scene_files` - per-scene JSON box files and ground-truth folders.
* :mod:`~detection.eval.evaluate` - ``evaluate_detections(pred_dir, gt_dir, dataset)`` and
  the results table, the entry points of ``splat3d eval-det``.
"""

from detection.eval.average_precision import evaluate_boxes, voc_average_precision
from detection.eval.evaluate import evaluate_detections, format_results_table
from detection.eval.iou3d import (
    box_iou_3d,
    box_iou_3d_axis_aligned,
    paired_box_iou_3d,
    paired_box_iou_3d_axis_aligned,
)
from detection.eval.scene_files import (
    BoxFileError,
    is_metrics_file,
    read_ground_truth_dir,
    read_prediction_dir,
    read_scene_boxes,
    write_scene_boxes,
)

__all__ = [
    "BoxFileError",
    "box_iou_3d",
    "box_iou_3d_axis_aligned",
    "evaluate_boxes",
    "evaluate_detections",
    "format_results_table",
    "is_metrics_file",
    "paired_box_iou_3d",
    "paired_box_iou_3d_axis_aligned",
    "read_ground_truth_dir",
    "read_prediction_dir",
    "read_scene_boxes",
    "voc_average_precision",
    "write_scene_boxes",
]
