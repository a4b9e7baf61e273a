"""Boundary guidance (3DGS-DET Sec. 3.3) against hand-counted outlines and a per-instance
border-point reference written here from the Suzuki & Abe definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detection.data.classes import ARKITSCENES_CLASSES, SCANNET_CLASSES
from detection.method.boundary import (
    dataset_palette,
    default_palette,
    guided_images,
    instance_boundaries,
    paint_boundaries,
)


def square_mask(size: int = 10, lo: int = 2, hi: int = 8, instance: int = 5) -> np.ndarray:
    mask = np.zeros((size, size), np.int64)
    mask[lo:hi, lo:hi] = instance
    return mask


def reference_border_points(mask: np.ndarray) -> np.ndarray:
    """Suzuki & Abe border points per instance: a 1-pixel of the instance's binary image with
    a 0-pixel among its 4 neighbours, the frame outside the image being 0."""
    out = np.zeros(mask.shape, bool)
    h, w = mask.shape
    for inst in np.unique(mask[mask > 0]):
        binary = mask == inst
        for y, x in zip(*np.nonzero(binary), strict=True):
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if not (0 <= ny < h and 0 <= nx < w) or not binary[ny, nx]:
                    out[y, x] = True
    return out


def test_square_outline_matches_hand_count():
    got = instance_boundaries(square_mask(), thickness=1)
    expected = np.zeros((10, 10), bool)
    expected[2:8, 2:8] = True
    expected[3:7, 3:7] = False  # a 6x6 square has 4*6 - 4 = 20 outline pixels
    assert got.sum() == 20
    np.testing.assert_array_equal(got, expected)


def test_thickness_two_gives_two_rings():
    got = instance_boundaries(square_mask(), thickness=2)
    expected = np.zeros((10, 10), bool)
    expected[2:8, 2:8] = True
    expected[4:6, 4:6] = False  # rings of 20 and 12 pixels; the 2x2 core stays
    assert got.sum() == 32
    np.testing.assert_array_equal(got, expected)


def test_touching_instances_both_get_the_shared_edge():
    mask = np.zeros((6, 8), np.int64)
    mask[1:5, 1:4] = 1
    mask[1:5, 4:7] = 2
    got = instance_boundaries(mask, thickness=1)
    assert got[1:5, 3].all() and got[1:5, 4].all()  # both sides of the shared edge
    np.testing.assert_array_equal(got, reference_border_points(mask))


def test_instance_at_image_edge_is_outlined_on_the_frame():
    mask = np.ones((4, 5), np.int64)
    got = instance_boundaries(mask, thickness=1)
    assert got.sum() == 4 * 5 - 2 * 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_masks_match_border_point_reference(seed):
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 4, size=(12, 15))
    np.testing.assert_array_equal(instance_boundaries(mask, 1), reference_border_points(mask))


def test_thickness_is_repeated_erosion_inward():
    rng = np.random.default_rng(3)
    mask = np.repeat(np.repeat(rng.integers(0, 3, size=(5, 6)), 4, 0), 4, 1)
    previous = instance_boundaries(mask, 1)
    for t in (2, 3):
        current = instance_boundaries(mask, t)
        assert (previous <= current).all()  # grows, never shrinks
        assert not current[mask == 0].any()  # never spills onto the background
        # ring t = border points of what remains after removing rings 1..t-1
        remaining = np.where(previous, 0, mask)
        np.testing.assert_array_equal(current & ~previous, reference_border_points(remaining)
                                      & (remaining > 0))
        previous = current


def test_tensor_in_tensor_out():
    got = instance_boundaries(torch.from_numpy(square_mask()), thickness=1)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool
    assert int(got.sum()) == 20


def test_paint_uses_category_colour_and_keeps_background():
    mask = np.zeros((10, 12), np.int64)
    mask[1:5, 1:5] = 3
    mask[5:9, 6:11] = 9
    palette = default_palette(18)
    image = torch.rand(10, 12, 3, generator=torch.Generator().manual_seed(0))
    out = paint_boundaries(image, mask, {3: 4, 9: 11}, palette, thickness=1)
    boundary = instance_boundaries(mask, 1)
    for inst, cls in ((3, 4), (9, 11)):
        sel = torch.from_numpy(boundary & (mask == inst))
        torch.testing.assert_close(out[sel], palette[cls].expand(int(sel.sum()), 3))
    torch.testing.assert_close(out[torch.from_numpy(~boundary)], image[torch.from_numpy(~boundary)])
    assert not torch.equal(out, image) and image.data_ptr() != out.data_ptr()


def test_array_labels_and_unpainted_instances():
    mask = np.zeros((8, 8), np.int64)
    mask[1:4, 1:4] = 1
    mask[4:7, 4:7] = 2
    image = torch.zeros(8, 8, 3)
    out = paint_boundaries(image, mask, np.array([-1, 2, -1]), default_palette(3), thickness=1)
    torch.testing.assert_close(out[torch.from_numpy(mask == 2)], image[torch.from_numpy(mask == 2)])
    assert (out[1, 1] == default_palette(3)[2]).all()


def test_negative_ignore_ids_are_background():
    mask = square_mask(instance=2)
    mask[0, :] = -1
    out = paint_boundaries(torch.zeros(10, 10, 3), mask, np.array([-1, -1, 1]),
                           default_palette(2), thickness=1)
    assert out[0].abs().sum() == 0
    assert (out[2, 2] == default_palette(2)[1]).all()


def test_guided_images_paints_every_view():
    masks = np.stack([square_mask(instance=1), square_mask(lo=0, hi=4, instance=2)])
    images = torch.zeros(2, 10, 10, 3)
    palette = dataset_palette("scannet")
    out = guided_images(images, masks, {1: 0, 2: 7}, palette, thickness=2)
    for view in range(2):
        torch.testing.assert_close(
            out[view], paint_boundaries(images[view], masks[view], {1: 0, 2: 7}, palette, 2))
    assert (out[1, 0, 0] == palette[7]).all()


@pytest.mark.parametrize("classes", [SCANNET_CLASSES, ARKITSCENES_CLASSES])
def test_default_palettes_are_distinct(classes):
    palette = default_palette(len(classes))
    assert palette.shape == (len(classes), 3)
    assert ((palette >= 0) & (palette <= 1)).all()
    dist = torch.cdist(palette, palette) + torch.eye(len(classes)) * 10
    assert dist.min() > 0.15


def test_bad_inputs_raise_clear_errors():
    mask = square_mask()
    with pytest.raises(ValueError, match=r"instance_mask must be \[H, W\]"):
        instance_boundaries(mask[None])
    with pytest.raises(ValueError, match="integer instance ids"):
        instance_boundaries(mask.astype(float))
    with pytest.raises(ValueError, match="thickness must be an int >= 1"):
        instance_boundaries(mask, thickness=0)
    with pytest.raises(ValueError, match=r"image must be a float \[H, W, 3\]"):
        paint_boundaries(torch.zeros(10, 10), mask, {5: 0}, default_palette(2))
    with pytest.raises(ValueError, match="does not match image size"):
        paint_boundaries(torch.zeros(9, 10, 3), mask, {5: 0}, default_palette(2))
    with pytest.raises(ValueError, match="no class for instance ids"):
        paint_boundaries(torch.zeros(10, 10, 3), mask, {4: 0}, default_palette(2))
    with pytest.raises(ValueError, match="outside the palette"):
        paint_boundaries(torch.zeros(10, 10, 3), mask, {5: 2}, default_palette(2))
    with pytest.raises(ValueError, match="mask holds instance id 5"):
        paint_boundaries(torch.zeros(10, 10, 3), mask, np.array([0, 1]), default_palette(2))
    with pytest.raises(ValueError, match=r"masks must be \[N, H, W\]"):
        guided_images(torch.zeros(2, 10, 10, 3), mask[None], {5: 0}, default_palette(2))
