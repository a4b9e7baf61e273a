"""Atomic file writing and image saving: an interrupted run never leaves a half-written file."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
""":func:`atomic_path` writes ``.NAME.<random>.tmp`` beside ``NAME``; a killed process can
leave one behind, and :func:`remove_temp_files` clears them."""
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
"""The names ``tempfile.mkstemp`` makes from that prefix and suffix (8 random characters)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically
    and durably.

    The temporary file is flushed to disk (``fsync``) before the rename and the folder after
    it, so after a crash or power loss ``path`` holds either the old or the new content, never
    an empty or partial file.

    Example:
        >>> with atomic_path("out.json") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left under ``folder`` (recursively)
    when a process was killed mid-write; returns what was removed.

    Only call it on a folder this process owns: a concurrent writer's file would go too.
    """
    found = [p for p in Path(folder).rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
             if _TEMP_NAME.match(p.name) and p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's entries') data to disk. Folders cannot be opened on
    Windows; there the rename is as durable as the OS makes it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_uint8(image: Float[torch.Tensor, "H W C"] | np.ndarray) -> np.ndarray:
    """Float image in [0,1] (clipped) to uint8, rounding to nearest."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(path: str | os.PathLike, image: Float[torch.Tensor, "H W C"] | np.ndarray) -> None:
    """Write a float image in [0,1] with 1, 3 or 4 channels as an 8-bit PNG, atomically."""
    arr = to_uint8(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def save_npy(path: str | os.PathLike, array: torch.Tensor | np.ndarray) -> None:
    """Write an array as float32 ``.npy``, atomically."""
    arr = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr.astype(np.float32))


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as indented JSON atomically; NaN and infinities become ``null``."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(data), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> object:
    """The JSON value stored in ``path`` (callers check its type and values).

    Every file the project reads as JSON goes through here, so a damaged or hostile file
    fails as one line naming it: invalid syntax (with line and column), text that is not
    UTF-8, nesting deep enough to exhaust Python's recursion limit, or an integer literal
    longer than Python's int-conversion limit all become a ``ValueError``. A missing or
    unreadable file raises the usual ``OSError``, which names the path. NaN and
    ``Infinity`` literals are accepted, as Python's ``json`` does.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {err.start}: {err.reason}); "
                         f"expected JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON at line {err.lineno} column {err.colno}: "
                         f"{err.msg}") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to read") from None
    except ValueError as err:  # e.g. an integer literal beyond sys.get_int_max_str_digits()
        raise ValueError(f"{path}: unreadable JSON value: {err}") from None
