"""Output paths built from untrusted names stay inside the folder they are meant for.

Writers name files after things found in input files (a transforms.json ``file_path``, a
dataset's frame names, a scene id) or typed by a user. Such a name may be absolute
(``/etc/x``), climb (``../../x``), carry a Windows drive (``C:\\x``), a NUL byte or a device
name (``CON``). :func:`safe_name` turns any string into a relative name made only of ordinary
parts; :func:`unique_names` does it for a batch so that no two outputs share a file;
:func:`child_path` joins the result to a folder and proves, symlinks resolved, that the path
is inside it. Every writer that derives a path from such a name goes through here.

Rules of :func:`safe_name`:

* ``\\`` separates parts like ``/`` (JSON written on Windows);
* roots, drives (``C:\\``) and ``.`` parts are dropped; ``..`` is resolved lexically and what
  would climb above the folder is dropped (``a/../../x`` -> ``x``);
* NUL, control characters and ``<>:"|?*`` become ``_``; trailing dots and spaces are dropped
  (Windows ignores them), and a part left empty disappears;
* a Windows device name (``CON``, ``nul.txt``, ``COM1``) gets a leading ``_``;
* a part longer than :data:`MAX_PART_BYTES` is cut and tagged with a hash of the whole part;
* harmless sub-folders stay: ``test/r_0`` -> ``test/r_0``; a name with no usable part is ``_``.

Example:
    >>> safe_name("../../etc/passwd"), safe_name("C:\\\\temp\\\\x"), safe_name("test/r_0")
    ('etc/passwd', 'temp/x', 'test/r_0')
    >>> unique_names(["a/../x", "x", "X"], suffixes=(".png",))
    ['x', 'x~2', 'X~3']
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

MAX_PART_BYTES = 200
"""Longest part (UTF-8 bytes) :func:`safe_name` keeps; leaves room for a suffix and the
temporary-file prefix of :func:`splat3d.fileio.atomic_path` within the usual 255-byte limit."""

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_DRIVE = re.compile(r"^[A-Za-z]:(?=/|$)")
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{i}" for port in ("COM", "LPT") for i in range(10)})


def _safe_part(part: str) -> str:
    part = _FORBIDDEN.sub("_", part).rstrip(". ")
    if part.split(".")[0].rstrip(" ").upper() in _DEVICE_NAMES:
        part = "_" + part
    raw = part.encode("utf-8")
    if len(raw) > MAX_PART_BYTES:
        tag = hashlib.sha256(raw).hexdigest()[:12]
        part = raw[:MAX_PART_BYTES - 13].decode("utf-8", "ignore") + "~" + tag
    return part


def safe_name(name: str) -> str:
    """``name`` as a relative POSIX name of ordinary parts (see the module docstring).

    Never empty, never absolute, no ``.``/``..`` parts, idempotent:
    ``safe_name(safe_name(s)) == safe_name(s)``.
    """
    # Lone surrogates (from JSON "\ud800" escapes) cannot be file names: "?" then "_".
    name = name.encode("utf-8", "replace").decode("utf-8").replace("\\", "/")
    name = _DRIVE.sub("", name)
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        part = _safe_part(part)
        if part:
            parts.append(part)
    return "/".join(parts) or "_"


def _folders(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def unique_names(names: Sequence[str], suffixes: Sequence[str] = ("",)) -> list[str]:
    """:func:`safe_name` of each name, renamed where needed so that no two outputs collide.

    Each name will be written as ``NAME + suffix`` for every suffix (e.g. ``(".png",
    "_depth.npy")``). Two names collide when any of their files are equal ignoring case (so a
    folder copied to a case-insensitive disk keeps every file) or when one needs as a folder a
    path the other writes as a file. The first name keeps its safe name; a later one becomes
    ``NAME~2``, ``NAME~3``... (flattened to one part, ``a_b~2``, when its folder is the clash).

    Raises:
        ValueError: if a suffix holds a path separator or NUL.
    """
    for suffix in suffixes:
        _check_suffix(suffix)
    files: set[str] = set()
    folders: set[str] = set()

    def clashes(candidate: str) -> bool:
        mine = {(candidate + s).casefold() for s in suffixes}
        return bool(mine & files or mine & folders
                    or {f.casefold() for f in _folders(candidate)} & files)

    result = []
    tried: dict[str, int] = {}  # base -> last number tried, so n equal names cost O(n)
    for name in names:
        base = candidate = safe_name(name)
        if clashes(base) and {f.casefold() for f in _folders(base)} & files:
            base = base.replace("/", "_")
        k = tried.get(base.casefold(), 1)
        while clashes(candidate):
            k += 1
            candidate = f"{base}~{k}"
        tried[base.casefold()] = k
        files |= {(candidate + s).casefold() for s in suffixes}
        folders |= {f.casefold() for f in _folders(candidate)}
        result.append(candidate)
    return result


def _check_suffix(suffix: str) -> None:
    if "/" in suffix or "\\" in suffix or "\0" in suffix:
        raise ValueError(f"file suffix {suffix!r} must not contain a path separator or NUL")


def child_path(folder: str | os.PathLike, name: str, suffix: str = "", *,
               exact: bool = False) -> Path:
    """``folder / (safe_name(name) + suffix)``, checked to lie strictly inside ``folder``.

    Args:
        folder: the output folder (need not exist yet).
        name: the untrusted name, e.g. a frame's ``file_path`` or a scene id; harmless
            sub-folders are kept (``test/r_0`` -> ``folder/test/r_0.png``).
        suffix: appended to the last part (``".png"``); must not hold a separator.
        exact: refuse, rather than rewrite, a name that is not already safe (for names that
            other files refer to, such as scene ids listed in ``splits.json``).

    Raises:
        ValueError: with ``exact``, for a name that :func:`safe_name` would change; and when
            a symlink already inside ``folder`` would take the path outside it (or loops).
    """
    _check_suffix(suffix)
    safe = safe_name(name)
    if exact and safe != name:
        raise ValueError(f"{name!r} is not a plain relative name for a file in {folder} "
                         f"(no root, drive, '..', '.', control or reserved characters); "
                         f"e.g. {safe!r} would be")
    path = Path(folder) / (safe + suffix)
    try:
        root, real = Path(folder).resolve(), path.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop
        raise ValueError(f"{path}: cannot resolve the output path: {err}") from None
    if real == root or not real.is_relative_to(root):
        raise ValueError(f"{path}: refusing to write there: a symlink takes it to {real}, "
                         f"outside {folder}")
    return path
