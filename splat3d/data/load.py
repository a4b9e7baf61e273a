"""``load_dataset``: one entry point for every supported scene format, with auto-detection.

Detection looks at ``path`` in this order and takes the first match, so that scenes shipping
several descriptions get the richest one (Mip-NeRF 360 and LLFF releases carry both a COLMAP
model and ``poses_bounds.npy``; 3DGS reads the COLMAP model):

==============  ===============================================================
``nerfstudio``  ``path`` is a ``.json`` file, or holds ``transforms.json``
``blender``     holds ``transforms_train.json``
``colmap``      holds ``sparse/0/cameras.{bin,txt}`` (or ``sparse/`` or itself)
``llff``        holds ``poses_bounds.npy``
``scannet``     holds ``intrinsic.txt`` (mmdetection3d ``posed_images`` scene)
==============  ===============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from splat3d.data.blender import read_blender
from splat3d.data.colmap import find_sparse_model, read_colmap
from splat3d.data.dataset import SceneDataset
from splat3d.data.errors import DatasetError
from splat3d.data.llff import read_llff
from splat3d.data.nerfstudio import read_nerfstudio
from splat3d.data.scannet import read_scannet

READERS: dict[str, Callable[..., SceneDataset]] = {
    "nerfstudio": read_nerfstudio,
    "blender": read_blender,
    "colmap": read_colmap,
    "llff": read_llff,
    "scannet": read_scannet,
}
"""Format name -> reader ``(path, downscale, background) -> SceneDataset``."""


def detect_format(path: Path) -> str:
    """The format name of the scene at ``path`` (see the module docstring).

    Raises:
        DatasetError: if ``path`` does not exist or matches no format.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "nerfstudio"
        raise DatasetError(f"{path}: cannot tell the dataset format of a {path.suffix!r} file; "
                           f"pass the scene folder or a transforms .json")
    if (path / "transforms.json").is_file():
        return "nerfstudio"
    if (path / "transforms_train.json").is_file():
        return "blender"
    if find_sparse_model(path) is not None:
        return "colmap"
    if (path / "poses_bounds.npy").is_file():
        return "llff"
    if (path / "intrinsic.txt").is_file():
        return "scannet"
    raise DatasetError(
        f"{path}: unrecognised dataset folder; looked for transforms.json (nerfstudio), "
        f"transforms_train.json (blender), sparse/0/cameras.bin|txt (colmap), "
        f"poses_bounds.npy (llff), intrinsic.txt (scannet)")


def load_dataset(
    path: Path | str, format: str = "auto", downscale: int = 1,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> SceneDataset:
    """Load a scene for per-scene reconstruction.

    Args:
        path: the scene folder (or a nerfstudio ``transforms.json``).
        format: ``auto`` or one of :data:`READERS`.
        downscale: integer factor; images are box-filtered (or read from ``images_N/``) and
            intrinsics scaled to match.
        background: RGB in [0, 1] onto which images with alpha are composited.

    Decoded images are cached per file and downscale
    (:func:`splat3d.data.images.clear_image_cache` frees them).

    Example:
        >>> data = load_dataset("data/lego", downscale=2)  # doctest: +SKIP
        >>> data.format, data.images.shape  # doctest: +SKIP
        ('blender', torch.Size([400, 400, 400, 3]))

    Raises:
        DatasetError: an unknown format, or any reader's error (file and frame named).
    """
    path = Path(path)
    if format == "auto":
        format = detect_format(path)
    elif format not in READERS:
        raise DatasetError(f"unknown dataset format {format!r}; choose from auto, "
                           f"{', '.join(READERS)}")
    elif not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    return READERS[format](path, downscale=downscale, background=background)
