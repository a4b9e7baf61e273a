"""Evaluation of 3D detections: exact 3D IoU, VOC average precision, result files and tables.

* :mod:`~detection.eval.iou3d` - exact IoU of axis-aligned and yaw-oriented boxes.
* :mod:`~detection.eval.average_precision` - per-class VOC AP and mAP (VoteNet/mmdet3d rules).
* :mod:`~detection.eval.scene_files` - per-scene JSON box files and ground-truth folders.
* :mod:`~detection.eval.evaluate` - ``evaluate_detections(pred_dir, gt_dir, dataset)`` and
  the results table, the entry points of ``splat3d eval-det``.
"""
