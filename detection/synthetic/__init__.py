"""A reproducible synthetic indoor benchmark for 3DGS-DET (Cao et al., 2024).

* :mod:`~detection.synthetic.primitives` - surface Gaussians on boxes and cylinders.
* :mod:`~detection.synthetic.furniture` - furniture templates (ScanNet class names).
* :mod:`~detection.synthetic.rooms` - rooms from a seed: walls, floor, placed objects, GT boxes.
* :mod:`~detection.synthetic.render` - camera trajectory, RGB / depth / instance masks, 2D boxes.
* :mod:`~detection.synthetic.boxes2d` - simulated 2D detections (noisy GT boxes).
* :mod:`~detection.synthetic.reconstruct` - per-scene 3DGS on plain or boundary-guided images.
* :mod:`~detection.synthetic.pipeline` - the resumable per-scene steps and the dataset driver.
* :mod:`~detection.synthetic.benchmark` - the ablation (basic, + boundary, + box sampling).
* :mod:`~detection.synthetic.cli` - ``DetectBench``, the ``splat3d detect bench`` command.
"""
