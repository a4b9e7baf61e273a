"""The 3DGS-DET method components (Cao et al., 2024).

* :mod:`~detection.method.boundary` - boundary guidance (Sec. 3.3): instance outlines painted
  in category colours on the training images.
* :mod:`~detection.method.box_sampling` - box-focused sampling (Sec. 3.4): object probability
  from multi-view 2D box frustums, probabilistic sampling of Gaussian centres, and the random
  and farthest-point sampling baselines.
* :mod:`~detection.method.segmenter` - where the 2D instance masks come from: the dataset's
  own masks or any 2D segmenter behind the :class:`InstanceSegmenter` interface.
"""

from detection.method.boundary import (
    dataset_palette,
    default_palette,
    guided_images,
    instance_boundaries,
    paint_boundaries,
)
from detection.method.box_sampling import (
    box_focused_sample,
    box_frustum_contains,
    farthest_point_sample,
    object_probability,
    random_sample,
)
from detection.method.segmenter import (
    DatasetMasks,
    InstanceMasks,
    InstanceSegmenter,
    guided_images_from,
)

__all__ = [
    "DatasetMasks",
    "InstanceMasks",
    "InstanceSegmenter",
    "box_focused_sample",
    "box_frustum_contains",
    "dataset_palette",
    "default_palette",
    "farthest_point_sample",
    "guided_images",
    "guided_images_from",
    "instance_boundaries",
    "object_probability",
    "paint_boundaries",
    "random_sample",
]
