"""detection: 3DGS-DET, 3D object detection on Gaussian scenes, with ScanNet/ARKitScenes tools."""
