"""The segmenter interface of boundary guidance: dataset masks and a plugged-in segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from detection.method import default_palette, guided_images
from detection.method.segmenter import DatasetMasks, InstanceMasks, guided_images_from


class SaturatedBlobSegmenter:
    """A weight-free segmenter for the test: every 4-connected blob of saturated pixels is an
    instance; red blobs are class 0, blue ones class 1; ids are offset per view."""

    def segment(self, images):
        masks, labels, next_id = [], {}, 1
        for image in images.numpy():
            saturated = image.max(-1) - image.min(-1) > 0.5
            ids, count = ndimage.label(saturated)
            ids = np.where(ids > 0, ids + next_id - 1, 0)
            for i in range(next_id, next_id + count):
                pixel = image[ids == i][0]
                labels[i] = 0 if pixel[0] > pixel[2] else 1
            masks.append(ids)
            next_id += count
        return InstanceMasks(torch.as_tensor(np.stack(masks)), labels)


def scene_images():
    images = torch.full((2, 12, 12, 3), 0.5)
    images[0, 1:5, 1:6] = torch.tensor([1.0, 0.0, 0.0])
    images[0, 7:11, 6:11] = torch.tensor([0.0, 0.0, 1.0])
    images[1, 3:9, 2:8] = torch.tensor([0.0, 0.0, 1.0])
    return images


def test_plugged_in_segmenter_paints_like_explicit_masks():
    images = scene_images()
    masks = torch.zeros(2, 12, 12, dtype=torch.int64)
    masks[0, 1:5, 1:6], masks[0, 7:11, 6:11], masks[1, 3:9, 2:8] = 1, 2, 3
    palette = default_palette(2)
    expected = guided_images(images, masks, {1: 0, 2: 1, 3: 1}, palette, thickness=1)
    got = guided_images_from(SaturatedBlobSegmenter(), images, palette, thickness=1)
    torch.testing.assert_close(got, expected)
    assert not torch.equal(got, images)


def test_dataset_masks_serve_their_own_views_only():
    images = scene_images()
    masks = torch.zeros(2, 12, 12, dtype=torch.int64)
    masks[1, 3:9, 2:8] = 4
    source = DatasetMasks(masks, {4: 1})
    torch.testing.assert_close(guided_images_from(source, images, default_palette(2)),
                               guided_images(images, masks, {4: 1}, default_palette(2)))
    with pytest.raises(ValueError, match="masks are for views"):
        source.segment(images[:1])
