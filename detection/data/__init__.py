"""Dataset readers of the detection module: box container, class lists, ScanNet, ARKitScenes.

Modules, one concept each:

* :mod:`~detection.data.boxes` - :class:`Boxes3D`, the ``[K, 7]`` box convention.
* :mod:`~detection.data.classes` - the ScanNet (18) and ARKitScenes (17) class tables.
* :mod:`~detection.data.scannet_scene` - :class:`ScanNetScene` and VoteNet's box definition.
* :mod:`~detection.data.scannet_arrays` - VoteNet / mmdetection3d preprocessed ``.npy`` files.
* :mod:`~detection.data.scannet_raw` - raw ScanNet scans (mesh, aggregation, segments).
* :mod:`~detection.data.arkitscenes` - ARKitScenes 3DOD annotations and the official split.
"""
