"""Reading image files: header-only sizes, decoded pixels with a box-filter downscale, depth.

Decoded images are cached in memory, keyed by the resolved path, the file's modification
time and size, and the downscale factor, so a scene loaded twice (e.g. by the trainer and
then the evaluator) decodes each file once. :func:`clear_image_cache` frees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from splat3d.data.errors import DatasetError

_CACHE: dict[tuple[str, int, int, int], np.ndarray] = {}


def clear_image_cache() -> None:
    """Forget every cached decoded image."""
    _CACHE.clear()


def image_cache_size() -> int:
    """Number of decoded images held in the cache."""
    return len(_CACHE)


def _open(path: Path, where: str) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DatasetError(f"{where}: image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"{where}: cannot read image {path}: {err}") from None


def read_image_size(path: Path, where: str) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (no pixel decoding)."""
    with _open(path, where) as im:
        return im.size


def downscaled_size(width: int, height: int, downscale: int) -> tuple[int, int]:
    """Image size after an integer ``downscale`` (floor division, at least one pixel)."""
    return max(1, width // downscale), max(1, height // downscale)


def load_image(path: Path, where: str, downscale: int = 1) -> np.ndarray:
    """Pixels of a colour image as uint8 ``[H,W,3]`` (RGB) or ``[H,W,4]`` (RGBA).

    Greyscale and palette images are expanded to RGB(A); an alpha channel (including a
    palette transparency) is kept. ``downscale > 1`` resizes to :func:`downscaled_size` with
    PIL's box filter (the mean over each source footprint; Pillow weights RGBA colours by
    alpha, so transparent pixels' hidden colours do not bleed). The result is cached and must
    not be modified.

    Raises:
        DatasetError: if the file is missing, unreadable or truncated.
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
        try:
            has_alpha = "A" in im.getbands() or "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
            if downscale > 1:
                im = im.resize(downscaled_size(*im.size, downscale), Image.Resampling.BOX)
            pixels = np.asarray(im, dtype=np.uint8)
        except OSError as err:
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
        try:
            depth = np.asarray(im)
        except OSError as err:
            raise DatasetError(f"{where}: cannot decode depth image {path}: {err}") from None
    if depth.ndim != 2:
        raise DatasetError(f"{where}: depth image {path} must have one channel, "
                           f"got shape {depth.shape}")
    if downscale > 1:
        w, h = downscaled_size(depth.shape[1], depth.shape[0], downscale)
        off = downscale // 2
        depth = depth[off::downscale, off::downscale][:h, :w]
    return depth.astype(np.float32) * np.float32(scale)
