"""Where boundary guidance gets its 2D instance masks: the dataset, or a 2D segmenter.

3DGS-DET (Cao et al., 2024, Sec. 3.3) paints instance outlines that come from 2D instance
masks. On the benchmarks those masks are the projected ground-truth instances that ship with
the dataset (:class:`DatasetMasks`); in the wild they would come from a 2D instance segmenter.
Both sit behind one small interface, :class:`InstanceSegmenter`, so a user can plug in any
segmenter (a Mask R-CNN or SAM wrapper loaded from local weights, say) without touching the
guidance code: nothing here downloads or bundles a network.

A segmenter returns :class:`InstanceMasks`: integer ``[N, H, W]`` maps (``0`` background) and
one id -> class table for the whole batch, so ids must be unique across the views unless they
name the same object (scene-wide ids, as ScanNet's; a per-view segmenter offsets its ids).

Example:
    >>> masks = torch.zeros(1, 4, 4, dtype=torch.int64)
    >>> masks[0, 1:3, 1:3] = 5
    >>> from detection.method.boundary import default_palette
    >>> source = DatasetMasks(masks, {5: 2})
    >>> guided = guided_images_from(source, torch.zeros(1, 4, 4, 3), default_palette(3))
    >>> bool((guided[0, 1, 1] == default_palette(3)[2]).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from jaxtyping import Float, Int
from torch import Tensor

from detection.method.boundary import InstanceLabels, guided_images


@dataclass(frozen=True)
class InstanceMasks:
    """Instance masks of a batch of views and the class of each instance id."""

    masks: Int[Tensor, "N H W"]
    """Instance id per pixel, ``0`` for background."""
    labels: InstanceLabels
    """Instance id -> class index (``-1``: not a benchmark class, left unpainted)."""


class InstanceSegmenter(Protocol):
    """Anything that turns images into :class:`InstanceMasks`."""

    def segment(self, images: Float[Tensor, "N H W 3"]) -> InstanceMasks:
        """Instance masks of ``images`` (RGB in ``[0, 1]``), one map per image."""
        ...


class DatasetMasks:
    """The masks a dataset provides (e.g. projected ground-truth instances), served as a
    segmenter of exactly the views they belong to."""

    def __init__(self, masks: Int[Tensor, "N H W"], labels: InstanceLabels) -> None:
        self.result = InstanceMasks(torch.as_tensor(masks), labels)

    def segment(self, images: Float[Tensor, "N H W 3"]) -> InstanceMasks:
        """The stored masks; ``ValueError`` when ``images`` are not the ``[N, H, W]`` views
        they were made for."""
        if tuple(images.shape[:3]) != tuple(self.result.masks.shape):
            raise ValueError(f"DatasetMasks: the masks are for views "
                             f"{tuple(self.result.masks.shape)}, got images "
                             f"{tuple(images.shape)}")
        return self.result


def guided_images_from(
    segmenter: InstanceSegmenter, images: Float[Tensor, "N H W 3"],
    palette: Float[Tensor, "K 3"], thickness: int = 2,
) -> Float[Tensor, "N H W 3"]:
    """Boundary-guided training images (Sec. 3.3) with the masks of ``segmenter``."""
    found = segmenter.segment(images)
    return guided_images(images, found.masks, found.labels, palette, thickness)
