"""Property-based tests of :func:`splat3d.io.load_ply` on hostile files.

The only allowed outcomes are Gaussians or a ``ValueError`` / ``OSError`` whose message
names the file: never another exception type, never a crash (the issue's first find was a
62-byte header that killed the process with SIGFPE), never an allocation the file size does
not justify. Budgets are fixed and derandomised, so CI runs the same cases every time.
"""

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plyfile import PlyData

from splat3d import Gaussians
from splat3d.io import load_ply, ply_property_names, save_ply

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

SIZES = {"float": 4, "float32": 4, "double": 8, "uchar": 1, "int": 4, "short": 2, "f4": 4}
NAMES = [*ply_property_names(1), "filter_3D"]


def check_outcome(path: Path) -> Gaussians | None:
    """Load ``path``; a refusal must be a ValueError/OSError naming the file."""
    try:
        return load_ply(path)
    except (ValueError, OSError) as err:
        assert str(path) in str(err), f"error does not name the file: {err!r}"
        assert "\n" not in str(err), f"error is not one line: {err!r}"
        return None


def mostly(common, *rare):
    """A strategy drawing ``common`` nine times in ten, else one of ``rare`` (``one_of``
    alone would spend most examples on the broken variants)."""
    return st.integers(0, 9).flatmap(lambda k: common if k < 9 else st.one_of(*rare))


@st.composite
def ply_files(draw) -> bytes:
    """Mostly well-formed 3DGS-like PLY files with a few broken parts: headers with odd
    counts (negative, 1e21, non-integer), types, names and line ends, and bodies of the
    declared size, a little off it, or with NaN, huge or non-numeric values."""
    newline = draw(mostly(st.just(b"\n"), st.sampled_from([b"\r\n", b"\r"])))
    fmt = draw(mostly(st.sampled_from(["binary_little_endian", "binary_big_endian", "ascii"]),
                      st.sampled_from(["binary", "ascii 2.0"])))
    lines, body_bytes, ascii_rows = [b"ply", f"format {fmt} 1.0".encode()], 0, []
    for _ in range(draw(mostly(st.just(1), st.integers(0, 2)))):
        name = draw(mostly(st.just("vertex"), st.sampled_from(["face", "x y"])))
        count = draw(mostly(st.integers(0, 5), st.integers(-(10**21), 10**21),
                            st.sampled_from(["-1", "1.5", "1e3", "0x10"])))
        lines.append(f"element {name} {count}".encode())
        props = draw(mostly(st.just(NAMES), st.lists(st.sampled_from(NAMES), max_size=30)))
        row = 0
        # per-property types only now and then: hypothesis spends its time drawing
        kinds = draw(mostly(st.just(["float"] * len(props)), st.lists(
            st.sampled_from([*SIZES, "half", "list"]), min_size=len(props), max_size=len(props))))
        for prop, kind in zip(props, kinds, strict=True):
            if kind == "list":
                lines.append(f"property list uchar float {prop}".encode())
                row += 1  # an empty list: its length byte
            else:
                lines.append(f"property {kind} {prop}".encode())
                row += SIZES.get(kind, 0)
        rows = count if isinstance(count, int) and 0 <= count <= 5 else 1
        body_bytes += rows * row
        values = ["0.5"] * (rows * len(props))
        for where, value in draw(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
                ["nan", "inf", "1e39", "-2", "x", ""])), max_size=3)):
            if values:
                values[where % len(values)] = value
        ascii_rows += [" ".join(values[r * len(props):(r + 1) * len(props)])
                       for r in range(rows)]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(1, len(lines))), b"comment " + draw(st.binary(max_size=4)))
    if draw(st.integers(0, 19)):
        lines.append(b"end_header")
    header = newline.join(lines) + newline
    if fmt == "ascii":
        return header + "\n".join(ascii_rows).encode() + b"\n"
    size = max(body_bytes + draw(mostly(st.just(0), st.integers(-8, 8))), 0)
    # small finite floats, with a few NaN/Inf/huge ones written over them
    seed = draw(st.integers(0, 2**32 - 1))
    body = bytearray(np.random.default_rng(seed).normal(size=size // 4 + 1)
                     .astype("<f4").tobytes()[:size])
    for where, value in draw(st.lists(st.tuples(st.integers(0, max(size - 4, 0)), st.sampled_from(
            [np.nan, np.inf, -np.inf, 3e38, 1e-45])), max_size=3)):
        if where + 4 <= size:
            body[where:where + 4] = np.float32(value).tobytes()
    return header + bytes(body)


@given(content=ply_files())
@FUZZ
def test_random_headers_and_bodies(tmp_path, content):
    path = tmp_path / "fuzz.ply"
    path.write_bytes(content)
    check_outcome(path)


@functools.cache
def valid_file(ascii_: bool) -> bytes:
    """A small degree-1 3DGS PLY, binary little-endian or ASCII."""
    gen = torch.Generator().manual_seed(0)
    g = Gaussians(means=torch.randn(4, 3, generator=gen), quats=torch.randn(4, 4, generator=gen),
                  log_scales=torch.randn(4, 3, generator=gen),
                  opacity_logits=torch.randn(4, generator=gen),
                  sh=torch.randn(4, 4, 3, generator=gen))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "valid.ply"
        save_ply(path, g)
        if ascii_:
            ply = PlyData.read(str(path), mmap=False)
            ply.text = True
            ply.write(str(path))
        return path.read_bytes()


@given(ascii_=st.booleans(), edits=st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.floats(0, 1),
              st.binary(min_size=1, max_size=4)), min_size=1, max_size=4))
@FUZZ
def test_mutated_valid_files(tmp_path, ascii_, edits):
    data = bytearray(valid_file(ascii_))
    for op, where, payload in edits:
        i = min(int(where * len(data)), max(len(data) - 1, 0))
        if op == "flip" and data:
            data[i] ^= payload[0] or 1
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = payload
        elif op == "delete":
            del data[i:i + len(payload)]
    path = tmp_path / "fuzz.ply"
    path.write_bytes(bytes(data))
    g = check_outcome(path)
    if g is not None:  # whatever loads is finite: NaN/Inf are refused with the field named
        for field in ("means", "quats", "log_scales", "opacity_logits", "sh"):
            assert torch.isfinite(getattr(g, field)).all()


def test_every_truncation_of_a_binary_file_is_refused(tmp_path):
    data = valid_file(ascii_=False)
    path = tmp_path / "cut.ply"
    for n in np.unique(np.linspace(0, len(data) - 1, 120).astype(int)):
        path.write_bytes(data[:n])
        assert check_outcome(path) is None, f"a file cut to {n} of {len(data)} bytes loaded"
