"""Class lists of the detection benchmarks, in one explicit table.

ScanNet v2 (Dai et al., CVPR 2017) is evaluated on the 18 classes that VoteNet (Qi et al.,
ICCV 2019, ``scannet/model_util_scannet.py``) selected by NYU40 id; mmdetection3d's
``ScanNetDataset`` uses the same names in the same order (including the ``showercurtrain``
spelling), so class index ``i`` here is ``bbox_label_3d == i`` there.

ARKitScenes (Baruch et al., NeurIPS 2021 Datasets and Benchmarks) 3DOD has 17 classes,
ordered as in the official ``threedod/benchmark_scripts/utils/taxonomy.py``.
"""

from __future__ import annotations

SCANNET_CLASSES: tuple[str, ...] = (
    "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "desk", "curtain", "refrigerator", "showercurtrain", "toilet", "sink",
    "bathtub", "garbagebin",
)  # fmt: skip
"""VoteNet's 18 ScanNet detection classes, in VoteNet / mmdetection3d label order."""

SCANNET_NYU40_IDS: tuple[int, ...] = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39,
)  # fmt: skip
"""NYU40 id of each entry of :data:`SCANNET_CLASSES` (same order)."""

NYU40_MAX = 40
"""Largest NYU40 id (ids are ``1..40``; ``0`` marks unannotated points in ScanNet files)."""

SCANNET_NYU40_TO_CLASS: dict[int, int] = {nyu: i for i, nyu in enumerate(SCANNET_NYU40_IDS)}
"""NYU40 id -> index into :data:`SCANNET_CLASSES`; ids not listed are not benchmark classes."""

ARKITSCENES_CLASSES: tuple[str, ...] = (
    "cabinet", "refrigerator", "shelf", "stove", "bed", "sink", "washer", "toilet", "bathtub",
    "oven", "dishwasher", "fireplace", "stool", "chair", "table", "tv_monitor", "sofa",
)  # fmt: skip
"""The 17 ARKitScenes 3DOD classes, in the official taxonomy order."""

DATASET_CLASSES: dict[str, tuple[str, ...]] = {
    "scannet": SCANNET_CLASSES,
    "arkitscenes": ARKITSCENES_CLASSES,
}
"""Every dataset this package evaluates, and its class tuple."""


def dataset_classes(dataset: str) -> tuple[str, ...]:
    """The class tuple of ``dataset`` (``"scannet"`` or ``"arkitscenes"``).

    Raises:
        ValueError: for an unknown dataset name, listing the known ones.
    """
    try:
        return DATASET_CLASSES[dataset]
    except KeyError:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {sorted(DATASET_CLASSES)}"
        ) from None
