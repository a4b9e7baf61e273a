"""Boundary guidance: instance outlines painted in category colours (3DGS-DET, Sec. 3.3).

Cao et al., 2024, "3DGS-DET: Empower 3D Gaussian Splatting with Boundary Guidance and
Box-Focused Sampling for 3D Object Detection", Sec. 3.3: the outline of every object instance
is extracted from the 2D instance masks by border following and drawn onto the training image
in a fixed colour per category; 3DGS is then fitted to these guided images, so the Gaussian
blobs on object boundaries separate objects from their background.

An instance mask is an integer ``[H, W]`` map: ``0`` is background, every positive value is
one instance id. Instance labels map an instance id to a class index of the dataset
(:func:`detection.data.classes.dataset_classes`); ``-1`` marks an instance that is not a
benchmark class and is left unpainted.

Example:
    >>> import numpy as np
    >>> mask = np.zeros((6, 6), np.int64)
    >>> mask[1:5, 1:5] = 7
    >>> int(instance_boundaries(mask, thickness=1).sum())
    12
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from scipy import ndimage
from torch import Tensor

from detection.data.classes import dataset_classes

_CROSS = ndimage.generate_binary_structure(2, 1)  # the 4-neighbourhood

InstanceLabels = Mapping[int, int] | Int[np.ndarray, " I"] | Int[Tensor, " I"]
"""Instance id -> class index, as a dict or as an array indexed by id (``-1``: unpainted)."""


def default_palette(num_classes: int) -> Float[Tensor, "K 3"]:
    """``num_classes`` distinct RGB colours in ``[0, 1]``, a fixed function of the count.

    Hues are spread evenly around the HSV circle (``hue_k = k / K``); odd entries use a lower
    value (0.65 instead of 1.0), so that neighbouring hues, which are the easiest to confuse,
    also differ in brightness. Saturation is 1, so no colour is grey-ish like typical indoor
    walls and floors. The palette depends only on ``K``: ScanNet (18 classes) and ARKitScenes
    (17 classes) each get their own fixed table, see :func:`dataset_palette`.

    Example:
        >>> default_palette(18).shape
        torch.Size([18, 3])
    """
    if num_classes < 1:
        raise ValueError(f"default_palette: num_classes must be >= 1, got {num_classes}")
    rgb = [colorsys.hsv_to_rgb(k / num_classes, 1.0, 1.0 if k % 2 == 0 else 0.65)
           for k in range(num_classes)]
    return torch.tensor(rgb, dtype=torch.float32)


def dataset_palette(dataset: str) -> Float[Tensor, "K 3"]:
    """The boundary colour of each class of ``dataset`` (``"scannet"`` or ``"arkitscenes"``)."""
    return default_palette(len(dataset_classes(dataset)))


def _as_mask_array(instance_mask: Int[Tensor, "H W"] | Int[np.ndarray, "H W"]) -> np.ndarray:
    arr = (instance_mask.detach().cpu().numpy() if isinstance(instance_mask, Tensor)
           else np.asarray(instance_mask))
    if arr.ndim != 2:
        raise ValueError(f"instance_mask must be [H, W], got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ValueError(f"instance_mask must hold integer instance ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def instance_boundaries(
    instance_mask: Int[Tensor, "H W"] | Int[np.ndarray, "H W"], thickness: int = 2
) -> Bool[Tensor, "H W"] | Bool[np.ndarray, "H W"]:
    """Boundary pixels of every instance (id > 0) of an instance mask (3DGS-DET, Sec. 3.3).

    A pixel is a boundary pixel when it belongs to an instance and one of its 4 neighbours
    has a different id (another instance, the background, or the outside of the image, which
    counts as background). ``thickness`` > 1 grows the outline inward: the instance pixels
    that are not in the ``thickness``-fold 4-neighbourhood erosion of their own instance.

    Why the neighbour test is border following: the paper traces outlines with border
    following (Suzuki & Abe, 1985, as in OpenCV ``findContours``), run on each instance's
    binary mask. Suzuki & Abe define a border point of an 8-connected 1-component as a
    1-pixel with a 0-pixel in its 4-neighbourhood, the picture's frame being 0; the contours
    the algorithm traces visit exactly these points (outer and hole borders). The neighbour
    test computes that set for all instances at once without tracing the chains. Because it
    is applied per instance, both instances on a shared edge get a boundary. Here the 0-frame
    lies just outside the image, so an instance touching the image edge is outlined along it
    (OpenCV instead ignores the outermost pixel rows and columns).

    Args:
        instance_mask: ``[H, W]`` integer ids (tensor or array); 0 is background.
        thickness: outline width in pixels, >= 1 (default 2).

    Returns:
        ``[H, W]`` boolean mask of the same kind as the input (a tensor on the input's
        device, or a NumPy array).
    """
    if isinstance(thickness, bool) or not isinstance(thickness, int) or thickness < 1:
        raise ValueError(f"instance_boundaries: thickness must be an int >= 1, got {thickness!r}")
    ids = _as_mask_array(instance_mask)  # [H, W]
    padded = np.pad(ids, 1, constant_values=-1)  # the image frame differs from every id
    same = np.ones(ids.shape, dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        same &= padded[1 + dy:1 + dy + ids.shape[0], 1 + dx:1 + dx + ids.shape[1]] == ids
    # `same` is the one-step erosion of every instance; eroding it further keeps instances
    # apart because an interior pixel's neighbours all share its id.
    interior = same
    if thickness > 1:
        interior = ndimage.binary_erosion(same, structure=_CROSS, iterations=thickness - 1,
                                          border_value=0)
    boundary = (ids > 0) & ~interior
    if isinstance(instance_mask, Tensor):
        return torch.from_numpy(boundary).to(instance_mask.device)
    return boundary


def _class_per_pixel(ids: np.ndarray, instance_labels: InstanceLabels) -> np.ndarray:
    """``[H, W]`` class index of each pixel's instance (-1 for background / unpainted)."""
    present = np.unique(ids[ids > 0])
    if isinstance(instance_labels, Mapping):
        missing = [int(i) for i in present if int(i) not in instance_labels]
        if missing:
            raise ValueError(f"instance_labels has no class for instance ids {missing[:10]}")
        table = np.full(int(ids.max(initial=0)) + 1, -1, dtype=np.int64)
        for i in present:
            table[i] = int(instance_labels[int(i)])
    else:
        table = np.asarray(instance_labels.detach().cpu().numpy()
                           if isinstance(instance_labels, Tensor) else instance_labels)
        if table.ndim != 1 or not np.issubdtype(table.dtype, np.integer):
            raise ValueError("instance_labels as an array must be a 1-D integer array indexed "
                             f"by instance id, got shape {table.shape} dtype {table.dtype}")
        if present.size and present[-1] >= table.shape[0]:
            raise ValueError(f"instance_labels has {table.shape[0]} entries but the mask holds "
                             f"instance id {int(present[-1])}")
        table = table.astype(np.int64).copy()
    if table.size == 0:
        return np.full(ids.shape, -1, np.int64)
    # Background (0) and any negative "ignore" id are never painted.
    return np.where(ids > 0, table[np.clip(ids, 0, None)], -1)


def paint_boundaries(
    image: Float[Tensor, "H W 3"],
    instance_mask: Int[Tensor, "H W"] | Int[np.ndarray, "H W"],
    instance_labels: InstanceLabels,
    palette: Float[Tensor, "K 3"],
    thickness: int = 2,
) -> Float[Tensor, "H W 3"]:
    """The image with every instance outline painted in its category colour (Sec. 3.3).

    Boundary pixels come from :func:`instance_boundaries`; a boundary pixel of an instance
    of class ``c`` becomes ``palette[c]``. Every other pixel, and the outline of an instance
    labelled ``-1``, keeps its value. The input is not modified.

    Args:
        image: ``[H, W, 3]`` float image (values as in ``palette``, normally [0, 1]).
        instance_mask: ``[H, W]`` integer instance ids, 0 = background.
        instance_labels: instance id -> class index, a dict or an array indexed by id.
        palette: ``[K, 3]`` colour per class, e.g. :func:`dataset_palette`.
        thickness: outline width in pixels (default 2).

    Example:
        >>> mask = torch.zeros(8, 8, dtype=torch.long)
        >>> mask[2:6, 2:6] = 1
        >>> out = paint_boundaries(torch.zeros(8, 8, 3), mask, {1: 3}, default_palette(18))
        >>> bool((out[2, 2] == default_palette(18)[3]).all())
        True
    """
    image = torch.as_tensor(image)
    if image.ndim != 3 or image.shape[-1] != 3 or not image.is_floating_point():
        raise ValueError("paint_boundaries: image must be a float [H, W, 3] tensor, got shape "
                         f"{tuple(image.shape)} dtype {image.dtype}")
    ids = _as_mask_array(instance_mask)
    if ids.shape != tuple(image.shape[:2]):
        raise ValueError(f"paint_boundaries: instance_mask shape {ids.shape} does not match "
                         f"image size {tuple(image.shape[:2])}")
    palette = torch.as_tensor(palette)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"paint_boundaries: palette must be [K, 3], got {tuple(palette.shape)}")
    classes = _class_per_pixel(ids, instance_labels)  # [H, W]
    if classes.max(initial=-1) >= palette.shape[0] or classes.min(initial=-1) < -1:
        bad = sorted({int(c) for c in np.unique(classes) if c >= palette.shape[0] or c < -1})
        raise ValueError(f"paint_boundaries: class indices {bad} are outside the palette of "
                         f"{palette.shape[0]} colours")
    paint = instance_boundaries(ids, thickness) & (classes >= 0)  # [H, W]
    out = image.clone()
    where = torch.from_numpy(paint).to(image.device)
    out[where] = palette.to(image)[torch.from_numpy(classes[paint]).to(image.device)]
    return out


def guided_images(
    images: Float[Tensor, "N H W 3"],
    masks: Int[Tensor, "N H W"] | Int[np.ndarray, "N H W"],
    instance_labels: InstanceLabels,
    palette: Float[Tensor, "K 3"],
    thickness: int = 2,
) -> Float[Tensor, "N H W 3"]:
    """:func:`paint_boundaries` on every view: the boundary-guided training images (Sec. 3.3).

    ``instance_labels`` is one mapping for the whole scene: instance ids are scene-wide (as in
    ScanNet), so the same object gets the same colour in every view.
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"guided_images: images must be [N, H, W, 3], got {tuple(images.shape)}")
    if tuple(masks.shape) != tuple(images.shape[:3]):
        raise ValueError(f"guided_images: masks must be [N, H, W] = {tuple(images.shape[:3])}, "
                         f"got {tuple(masks.shape)}")
    return torch.stack([paint_boundaries(img, mask, instance_labels, palette, thickness)
                        for img, mask in zip(images, masks, strict=True)])
