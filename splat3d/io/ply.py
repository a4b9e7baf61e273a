"""The standard 3D Gaussian Splatting PLY file <-> :class:`~splat3d.gaussians.Gaussians`.

Format (Kerbl et al., 2023, as written by graphdeco-inria's trainer and read by most viewers):
one ``vertex`` element, one row per Gaussian, scalar properties

    x y z [nx ny nz] f_dc_0..2 [f_rest_0..3M-1] opacity scale_0..2 rot_0..3

with ``opacity`` the logit, ``scale_*`` the natural-log standard deviations, ``rot_*`` a
(w, x, y, z) quaternion and ``M = (d+1)^2 - 1`` higher-order SH coefficients per colour
channel, stored channel-major: ``f_rest_{c*M + k} = sh[:, 1 + k, c]``. The SH degree ``d`` is
inferred from the ``f_rest`` count. Writers differ in details this reader absorbs: graphdeco,
Mip-Splatting and nerfstudio write zero normals, gsplat and degree-0 trainers write none,
Mip-Splatting appends ``filter_3D``, nerfstudio's ``--ply-color-mode rgb`` stores
``red green blue`` bytes instead of ``f_dc``; properties are looked up by name, so their
order, any unknown property and any other element do not matter.

Why written by hand: ``plyfile`` parses and writes the PLY container (ASCII and both binary
byte orders); the property <-> parameter mapping and the validation are ours, so that a bad
file fails with an error naming the file, the property and, for NaN/Inf, the first vertex.
Before ``plyfile`` sees a file, :func:`read_ply` reads its header itself (see there for why):
``plyfile`` sizes its arrays from the declared counts, so a negative, huge or zero-width
declaration crashed the process (SIGFPE), raised ``OverflowError`` or tried to allocate
terabytes, and a binary file longer than its counts say was silently cut short.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from plyfile import PlyData, PlyElement, PlyParseError

from splat3d.fileio import atomic_path
from splat3d.gaussians import Gaussians
from splat3d.io.stats import first_non_finite
from splat3d.sh import num_sh_bases, rgb_to_sh_dc

POSITION = ("x", "y", "z")
NORMAL = ("nx", "ny", "nz")
SH_DC = ("f_dc_0", "f_dc_1", "f_dc_2")
RGB = ("red", "green", "blue")
OPACITY = ("opacity",)
SCALE = ("scale_0", "scale_1", "scale_2")
ROTATION = ("rot_0", "rot_1", "rot_2", "rot_3")

# f_rest count -> SH degree, for degrees 0..3: {0: 0, 9: 1, 24: 2, 45: 3}
REST_COUNT_TO_DEGREE = {3 * (num_sh_bases(d) - 1): d for d in range(4)}
_REST_NAME = re.compile(r"f_rest_(\d+)")


PLY_HEADER_LIMIT = 1 << 20
"""Most bytes read while looking for ``end_header``; real headers are a few kilobytes."""

# Bytes per value of each PLY scalar type, under the names plyfile accepts (PLY 1.0 names,
# their sized aliases and numpy type codes).
_SCALAR_BYTES = {
    **dict.fromkeys(("char", "uchar", "int8", "uint8", "i1", "u1", "b1"), 1),
    **dict.fromkeys(("short", "ushort", "int16", "uint16", "i2", "u2"), 2),
    **dict.fromkeys(("int", "uint", "float", "int32", "uint32", "float32", "i4", "u4", "f4"),
                    4),
    **dict.fromkeys(("double", "float64", "f8"), 8),
}
_FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")


class PlyFormatError(ValueError):
    """A file that is not a valid 3DGS PLY; the message names the file and the problem."""


@dataclass(frozen=True)
class PlyElementLayout:
    """One ``element`` line of a PLY header and its properties."""

    name: str
    count: int
    """Declared number of rows."""
    row_bytes: int
    """Binary bytes per row: exact without list properties, else the minimum (empty lists)."""
    properties: tuple[str, ...]
    has_lists: bool


@dataclass(frozen=True)
class PlyHeader:
    """What :func:`read_ply_header` learns from a PLY header."""

    format: str
    """``ascii``, ``binary_little_endian`` or ``binary_big_endian``."""
    elements: tuple[PlyElementLayout, ...]
    body_bytes: int
    """File size minus the header."""


def ply_property_names(sh_degree: int) -> list[str]:
    """The vertex properties :func:`save_ply` writes, in graphdeco's order."""
    rest = [f"f_rest_{i}" for i in range(3 * (num_sh_bases(sh_degree) - 1))]
    return [*POSITION, *NORMAL, *SH_DC, *rest, *OPACITY, *SCALE, *ROTATION]


def load_ply(path: str | os.PathLike) -> Gaussians:
    """Read a standard 3DGS PLY file into float32 CPU :class:`Gaussians`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        PlyFormatError: not a PLY, a header whose counts, names or types do not add up or
            disagree with the file size (:func:`read_ply_header`), no ``vertex`` element,
            missing or non-float properties, an ``f_rest`` count that is not
            ``3*((d+1)^2-1)`` for d in 0..3, or NaN/Inf values (the property and first
            vertex are named: a NaN Gaussian would spread through the renderer).

    Example:
        >>> g = load_ply("point_cloud/iteration_30000/point_cloud.ply")  # doctest: +SKIP
        >>> g.sh_degree  # doctest: +SKIP
        3
    """
    path = Path(path)
    vertex = _vertex_element(path, read_ply(path))
    names = [prop.name for prop in vertex.properties]
    rest = _rest_property_names(path, names)
    # nerfstudio's rgb colour mode writes red/green/blue bytes in place of f_dc
    use_rgb = not all(n in names for n in SH_DC) and all(n in names for n in RGB)
    color = RGB if use_rgb else SH_DC
    required = [*POSITION, *color, *OPACITY, *SCALE, *ROTATION]
    missing = [n for n in required if n not in names]
    if missing:
        raise PlyFormatError(
            f"{path}: vertex element lacks required 3DGS properties {', '.join(missing)}")
    values = _float32_columns(path, vertex.data, [*required, *rest], integer_ok=set(RGB))
    n = values.shape[0]
    position, dc, opacity, scale, rotation, rest_cols = np.split(values, [3, 6, 7, 10, 14], axis=1)
    if use_rgb:
        dc = rgb_to_sh_dc(torch.from_numpy(dc) / 255.0).numpy()
    sh = _sh_from_columns(dc, rest_cols)  # [N, K, 3]
    return Gaussians(
        means=torch.from_numpy(position.copy()),
        quats=torch.from_numpy(rotation.copy()),
        log_scales=torch.from_numpy(scale.copy()),
        opacity_logits=torch.from_numpy(opacity.reshape(n).copy()),
        sh=torch.from_numpy(sh),
    )


def save_ply(path: str | os.PathLike, gaussians: Gaussians) -> None:
    """Write ``gaussians`` as a binary little-endian 3DGS PLY, atomically.

    Properties follow :func:`ply_property_names` (graphdeco's layout, zero normals), all
    float32, so ``load_ply(save_ply(g))`` reproduces float32 parameters bit for bit. The file
    is written beside ``path`` and moved into place, so an interrupted save leaves either the
    old file or the new one. Raises ``ValueError`` for NaN/Inf parameters, which
    :func:`load_ply` would reject.
    """
    path = Path(path)
    g = gaussians.detach().to("cpu", torch.float32)
    bad = first_non_finite(g)
    if bad is not None:
        field, index = bad
        raise ValueError(f"{path}: refusing to save non-finite Gaussians.{field} at index {index}")
    n = len(g)
    columns = np.concatenate([
        g.means.numpy(), np.zeros((n, 3), np.float32), _sh_to_columns(g.sh.numpy()),
        g.opacity_logits.numpy()[:, None], g.log_scales.numpy(), g.quats.numpy(),
    ], axis=1)  # [N, P] in ply_property_names order
    row = np.dtype([(name, "<f4") for name in ply_property_names(g.sh_degree)])
    records = np.ascontiguousarray(columns, dtype="<f4").view(row).reshape(n)
    ply = PlyData([PlyElement.describe(records, "vertex")], text=False, byte_order="<")
    with atomic_path(path) as tmp:
        ply.write(str(tmp))


def read_ply(path: str | os.PathLike) -> PlyData:
    """Any PLY file, read by ``plyfile`` once :func:`read_ply_header` has vouched for it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        PlyFormatError: a header :func:`read_ply_header` rejects, or a body ``plyfile``
            cannot parse (both with the file named).
    """
    path = Path(path)
    read_ply_header(path)
    try:
        # mmap=False: plyfile would otherwise memory-map binary bodies, and a file shortened
        # while mapped (another program rewriting it in place) kills the process with SIGBUS
        with np.errstate(over="ignore"):  # ASCII 1e39 as float: inf, refused by the caller
            return PlyData.read(str(path), mmap=False)
    # OverflowError: an ASCII value outside its integer type, e.g. -2 as uchar
    except (PlyParseError, ValueError, OverflowError, UnicodeDecodeError, EOFError) as err:
        raise PlyFormatError(f"{path}: not a readable PLY file ({err})") from err


def read_ply_header(path: str | os.PathLike) -> PlyHeader:
    """Parse and check a PLY header, and the declared body size against the file size.

    Why by hand: ``plyfile`` trusts the header. It allocates ``count`` rows up front (a count
    of 1e20 raised ``OverflowError``, a negative one "negative dimensions", one row of zero
    bytes crashed the process with SIGFPE), and for a binary file it reads the declared
    rows and ignores the rest, so a file with twice the declared vertices loaded half of
    them silently. This reads only the header (at most :data:`PLY_HEADER_LIMIT` bytes, with
    ``plyfile``'s leniency: LF, CR or CRLF line ends, blank lines ignored) and checks, with
    the file, element and property named:

    * each element's count is an integer >= 0, and a non-empty element has properties;
    * property names are unique within their element, element names unique in the file;
    * property types are PLY scalar types;
    * binary: the body is exactly ``sum(count * row_bytes)`` bytes when there are no list
      properties, and at least that (with empty lists) when there are;
    * ASCII: the body has room for the declared rows (at least two bytes per value).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        PlyFormatError: the first problem found.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such PLY file", str(path))
    if not path.is_file():
        raise PlyFormatError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(PLY_HEADER_LIMIT)
        size = os.fstat(f.fileno()).st_size
    newline = next((nl for nl in (b"\r\n", b"\n", b"\r") if head.startswith(b"ply" + nl)), None)
    if newline is None:
        raise PlyFormatError(f"{path}: not a PLY file (expected the line 'ply' first, found "
                             f"{head[:16]!r})")
    end = head.find(newline + b"end_header" + newline)
    try:
        lines = head[:end if end >= 0 else len(head)].decode("ascii").split(newline.decode())
    except UnicodeDecodeError as err:
        raise PlyFormatError(f"{path}: not a PLY file (non-ASCII byte at offset {err.start} "
                             f"{'in the header' if end >= 0 else 'before any end_header'})"
                             ) from None
    if end < 0:
        raise PlyFormatError(f"{path}: no 'end_header' line in the first {len(head)} bytes; "
                             f"truncated or not a PLY file")
    header_bytes = end + len(newline + b"end_header" + newline)
    fmt, elements = _parse_header_lines(path, lines[1:])
    header = PlyHeader(fmt, tuple(elements), size - header_bytes)
    _check_body_size(path, header)
    return header


def _parse_header_lines(path: Path, lines: list[str]) -> tuple[str, list[PlyElementLayout]]:
    """The format and element layouts of the header lines between ``ply`` and ``end_header``."""
    fmt = None
    elements: list[tuple[str, int, list[str], list[int], list[bool]]] = []
    for lineno, raw in enumerate(lines, start=2):
        fields = raw.split()
        if not fields or fields[0] in ("comment", "obj_info"):
            continue
        where = f"{path}: header line {lineno} ({raw.strip()[:60]!r})"
        keyword = fields[0]
        if keyword == "format":
            if len(fields) != 3 or fields[1] not in _FORMATS or fields[2] != "1.0":
                raise PlyFormatError(f"{where}: expected 'format <{'|'.join(_FORMATS)}> 1.0'")
            fmt = fields[1]
        elif keyword == "element":
            if len(fields) != 3:
                raise PlyFormatError(f"{where}: expected 'element <name> <count>'")
            try:
                count = int(fields[2])
            except ValueError:
                count = -1
            if count < 0:
                raise PlyFormatError(f"{where}: element {fields[1]!r} declares {fields[2]} "
                                     f"rows; expected a count >= 0")
            if any(e[0] == fields[1] for e in elements):
                raise PlyFormatError(f"{where}: a second element named {fields[1]!r}")
            elements.append((fields[1], count, [], [], []))
        elif keyword == "property":
            if not elements:
                raise PlyFormatError(f"{where}: property before any element")
            name, _, props, sizes, lists = elements[-1]
            is_list = fields[1:2] == ["list"]
            types = fields[2:4] if is_list else fields[1:2]
            if len(fields) != (5 if is_list else 3):
                raise PlyFormatError(f"{where}: expected 'property <type> <name>' or 'property "
                                     f"list <count type> <type> <name>'")
            unknown = [t for t in types if t not in _SCALAR_BYTES]
            if unknown:
                raise PlyFormatError(f"{where}: type {unknown[0]!r} is not a PLY scalar type; "
                                     f"expected one of {', '.join(_SCALAR_BYTES)}")
            if fields[-1] in props:
                raise PlyFormatError(f"{where}: element {name!r} has two properties named "
                                     f"{fields[-1]!r}")
            props.append(fields[-1])
            sizes.append(_SCALAR_BYTES[types[0]])  # a list's length; its items may be none
            lists.append(is_list)
        else:
            raise PlyFormatError(f"{where}: unknown header keyword {keyword!r}")
    if fmt is None:
        raise PlyFormatError(f"{path}: PLY header has no 'format' line")
    layouts = []
    for name, count, props, sizes, lists in elements:
        if count and not props:
            raise PlyFormatError(f"{path}: element {name!r} declares {count} rows but no "
                                 f"properties")
        layouts.append(PlyElementLayout(name, count, sum(sizes), tuple(props), any(lists)))
    return fmt, layouts


def _check_body_size(path: Path, header: PlyHeader) -> None:
    """Compare the declared rows with the bytes after the header (see :func:`read_ply_header`)."""
    body = header.body_bytes
    if header.format == "ascii":
        # each value takes at least one character and one separator
        needed = sum(e.count * 2 * len(e.properties) for e in header.elements) - 1
        if needed > body:
            declared = ", ".join(f"{e.count} {e.name!r} rows of {len(e.properties)} values"
                                 for e in header.elements)
            raise PlyFormatError(
                f"{path}: the header declares {declared}, which need at least {needed} bytes "
                f"of ASCII text; the file has {body} bytes after the header (truncated, or "
                f"the counts are wrong)")
        return
    needed = sum(e.count * e.row_bytes for e in header.elements)
    exact = not any(e.has_lists for e in header.elements)
    if needed > body or (exact and needed != body):
        declared = ", ".join(
            f"{e.count} {e.name!r} rows of {'at least ' if e.has_lists else ''}"
            f"{e.row_bytes} bytes" for e in header.elements) or "no elements"
        expected = f"{needed} bytes" if exact else f"at least {needed} bytes"
        cause = ("truncated, or the counts are too large" if needed > body
                 else "trailing data, or the counts are too small")
        raise PlyFormatError(
            f"{path}: the header declares {declared}, i.e. {expected} after the header; the "
            f"file has {body} ({cause})")


def _vertex_element(path: Path, ply: PlyData) -> PlyElement:
    elements = [el.name for el in ply.elements]
    if "vertex" not in elements:
        raise PlyFormatError(f"{path}: no 'vertex' element (elements found: {elements})")
    return ply["vertex"]


def _rest_property_names(path: Path, names: list[str]) -> list[str]:
    """``f_rest_0..f_rest_{K-1}``; K must be a valid count and the indices contiguous."""
    indices = sorted(int(m.group(1)) for n in names if (m := _REST_NAME.fullmatch(n)))
    if len(indices) not in REST_COUNT_TO_DEGREE:
        raise PlyFormatError(
            f"{path}: {len(indices)} f_rest_* properties; a degree-d SH file has "
            f"3*((d+1)^2-1) of them for d in 0..3, i.e. one of {sorted(REST_COUNT_TO_DEGREE)}")
    gaps = sorted(set(range(len(indices))) - set(indices))
    if gaps:
        raise PlyFormatError(
            f"{path}: f_rest_* indices must run 0..{len(indices) - 1}; f_rest_{gaps[0]} is missing")
    return [f"f_rest_{i}" for i in range(len(indices))]


def _float32_columns(
    path: Path, data: np.ndarray, names: list[str], integer_ok: set[str]
) -> Float[np.ndarray, "N P"]:
    """The named vertex properties as one float32 array, checked for type and finiteness."""
    for name in names:
        kind = data.dtype[name].kind
        if kind != "f" and not (name in integer_ok and kind in "iu"):
            found = "a list" if kind == "O" else f"type {data.dtype[name]}"
            raise PlyFormatError(f"{path}: property '{name}' is {found}; expected a float scalar")
    out = np.empty((len(data), len(names)), np.float32)
    with np.errstate(over="ignore"):  # float64 values beyond float32 become inf, reported below
        for j, name in enumerate(names):
            out[:, j] = data[name]
    bad = ~np.isfinite(out)
    if bad.any():
        rows = bad.any(axis=1)
        i = int(rows.argmax())
        name = names[int(bad[i].argmax())]
        raw = data[name][i]
        value = f"{raw} (beyond float32)" if np.isfinite(raw) else str(raw)
        raise PlyFormatError(
            f"{path}: property '{name}' is {value} at vertex {i} "
            f"({int(rows.sum())} of {len(data)} vertices have NaN/Inf values)")
    return out


def _sh_to_columns(sh: Float[np.ndarray, "N K 3"]) -> Float[np.ndarray, "N C"]:
    """``[f_dc_0..2, f_rest_0..3M-1]`` with ``f_rest_{c*M + k} = sh[:, 1 + k, c]``."""
    n, k = sh.shape[:2]
    rest = sh[:, 1:, :].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # [N, 3, M] flattened
    return np.concatenate([sh[:, 0, :], rest], axis=1)


def _sh_from_columns(
    dc: Float[np.ndarray, "N 3"], rest: Float[np.ndarray, "N R"]
) -> Float[np.ndarray, "N K 3"]:
    """Inverse of :func:`_sh_to_columns`."""
    n, m = dc.shape[0], rest.shape[1] // 3
    higher = rest.reshape(n, 3, m).transpose(0, 2, 1)  # [N, M, 3]
    return np.ascontiguousarray(np.concatenate([dc[:, None, :], higher], axis=1), np.float32)
