"""Reading image files: header-only sizes, decoded pixels with a box-filter downscale, depth.

Decoded images are cached in memory, keyed by the resolved path, the file's modification
time and size, and the downscale factor, so a scene loaded twice (e.g. by the trainer and
then the evaluator) decodes each file once. :func:`clear_image_cache` frees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from splat3d.data.camera_model import MAX_IMAGE_SIDE
from splat3d.data.errors import DatasetError

_CACHE: dict[tuple[str, int, int, int], np.ndarray] = {}


def clear_image_cache() -> None:
    """Forget every cached decoded image."""
    _CACHE.clear()


def image_cache_size() -> int:
    """Number of decoded images held in the cache."""
    return len(_CACHE)


_SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")
"""Modes of 16-bit greyscale files (PNG opens as ``I;16``, some readers give ``I``).
``Image.convert("RGB")`` clips them at 255, which turned a 16-bit PNG solid white."""

_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
"""Modes with an alpha band (``LAB``'s ``A`` band is colour, so bands are not searched)."""


def _open(path: Path, where: str) -> Image.Image:
    """The image, header read only; a missing, unrecognised or decompression-bomb file (a
    header claiming more pixels than PIL's ``MAX_IMAGE_PIXELS`` limit) is a DatasetError."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DatasetError(f"{where}: image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise DatasetError(f"{where}: cannot read image {path}: {err}") from None


def _to_8bit_colour(im: Image.Image, path: Path, where: str) -> Image.Image:
    """``im`` as an 8-bit ``RGB`` or, when it has alpha, ``RGBA`` image.

    16-bit greyscale is scaled from 0..65535 to 0..255 (rounded); palette, ``1``, ``L``,
    ``LA``, ``CMYK``, ``YCbCr`` and the like go through PIL's conversions; alpha (an alpha
    band or a palette/colour-key transparency) is kept. Floating-point images have no
    agreed range and are refused.
    """
    if im.mode in _SIXTEEN_BIT_GREY:
        grey = np.asarray(im, dtype=np.int64)
        low, high = int(grey.min(initial=0)), int(grey.max(initial=0))
        if low < 0 or high > 65535:
            raise DatasetError(f"{where}: image {path} is {im.mode!r} with values {low}..{high}; "
                               f"expected an 8- or 16-bit image (0..65535)")
        return Image.fromarray(((grey * 255 + 32767) // 65535).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        raise DatasetError(f"{where}: image {path} has 32-bit float pixels; expected an 8- or "
                           f"16-bit colour or greyscale image")
    has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def read_image_size(path: Path, where: str) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (no pixel decoding).

    Raises:
        DatasetError: missing or unreadable file, or a side beyond
            :data:`~splat3d.data.camera_model.MAX_IMAGE_SIDE`.
    """
    with _open(path, where) as im:
        return _check_size(im, path, where)


def _check_size(im: Image.Image, path: Path, where: str) -> tuple[int, int]:
    """``im.size`` if both sides are within ``1..MAX_IMAGE_SIDE`` (checked before decoding)."""
    for name, side in zip(("width", "height"), im.size, strict=True):
        if not 1 <= side <= MAX_IMAGE_SIDE:
            raise DatasetError(f"{where}: image {path} has {name} {side} pixels; expected 1 to "
                               f"{MAX_IMAGE_SIDE}")
    return im.size


def downscaled_size(width: int, height: int, downscale: int) -> tuple[int, int]:
    """Image size after an integer ``downscale`` (floor division, at least one pixel)."""
    return max(1, width // downscale), max(1, height // downscale)


def load_image(path: Path, where: str, downscale: int = 1) -> np.ndarray:
    """Pixels of a colour image as uint8 ``[H,W,3]`` (RGB) or ``[H,W,4]`` (RGBA).

    Greyscale and palette images are expanded to RGB(A); an alpha channel (including a
    palette transparency) is kept; 16-bit greyscale is scaled to 8 bits. ``downscale > 1``
    resizes to :func:`downscaled_size` with PIL's box filter (the mean over each source
    footprint; Pillow weights RGBA colours by alpha, so transparent pixels' hidden colours do
    not bleed). The result is cached and must not be modified.

    Raises:
        DatasetError: if the file is missing, unreadable, truncated, a decompression bomb,
            larger than ``MAX_IMAGE_SIDE`` per side or float-valued.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DatasetError(f"{where}: image file not found: {path}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, int(downscale))
    if key in _CACHE:
        return _CACHE[key]
    with _open(path, where) as im:
        _check_size(im, path, where)
        try:
            im = _to_8bit_colour(im, path, where)
            if downscale > 1:
                im = im.resize(downscaled_size(*im.size, downscale), Image.Resampling.BOX)
            pixels = np.asarray(im, dtype=np.uint8)
        # PIL reports truncated and corrupt data as OSError, some decoders as the others
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise DatasetError(f"{where}: cannot decode image {path}: {err}") from None
    pixels.setflags(write=False)
    _CACHE[key] = pixels
    return pixels


def load_depth(path: Path, where: str, scale: float, downscale: int = 1) -> np.ndarray:
    """A single-channel depth map as float32 ``[H,W]``, multiplied by ``scale``.

    ``downscale > 1`` keeps the centre sample of each ``downscale`` x ``downscale`` block
    (nearest neighbour: averaging depth across an occlusion edge invents surfaces). Not
    cached.
    """
    with _open(path, where) as im:
        _check_size(im, path, where)
        try:
            depth = np.asarray(im)
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise DatasetError(f"{where}: cannot decode depth image {path}: {err}") from None
    if depth.ndim != 2:
        raise DatasetError(f"{where}: depth image {path} must have one channel, "
                           f"got shape {depth.shape}")
    if downscale > 1:
        w, h = downscaled_size(depth.shape[1], depth.shape[0], downscale)
        off = downscale // 2
        depth = depth[off::downscale, off::downscale][:h, :w]
    return depth.astype(np.float32) * np.float32(scale)
