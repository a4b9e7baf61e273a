"""Reading ``.npy`` files that someone else wrote, without pickles or oversized allocations.

``np.load(allow_pickle=False)`` already refuses object arrays, but it trusts the header: a
12-byte file claiming ``10**12`` elements allocates before it fails, and a damaged header
surfaces as ``EOFError``, ``SyntaxError`` or ``tokenize.TokenError`` from NumPy's literal
parser. :func:`read_npy` checks the magic, the version, the dtype and the declared size
against the file first, and turns every failure into one ``ValueError`` naming the file.
NumPy has no such checked reader, hence this one.
"""

from __future__ import annotations

import math
import os
import tokenize
from pathlib import Path

import numpy as np

NPY_MAGIC = b"\x93NUMPY"
"""First six bytes of every ``.npy`` file (NumPy's ``format.py``)."""
_ZIP_MAGIC = b"PK\x03\x04"
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def read_npy(path: str | Path) -> np.ndarray:
    """The numeric array of a ``.npy`` file, validated before its data is read.

    The header is parsed first (NumPy's own header reader, which evaluates literals only);
    the data is read only if the dtype is a plain number type and the shape accounts for
    exactly the bytes that follow, so a header claiming ``10**12`` elements cannot make us
    allocate them. Object (pickled) arrays are refused without being unpickled.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming the file for an empty file, a ``.npz`` archive or any other
            non-``.npy`` content, a malformed header, a non-numeric dtype, or a size that does
            not match the header.
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if prefix[:6] != NPY_MAGIC:
            if not prefix:
                raise ValueError(f"{path}: empty file; expected a .npy array")
            if prefix[:4] == _ZIP_MAGIC:
                raise ValueError(f"{path}: a .npz/zip archive, not a .npy array; save the "
                                 "array with np.save")
            raise ValueError(f"{path}: not a .npy file (first bytes {prefix!r}, expected "
                             f"{NPY_MAGIC!r})")
        version = tuple(prefix[6:8])
        if version not in _HEADER_READERS:
            raise ValueError(f"{path}: .npy format version {version}; expected 1.0 or 2.0")
        try:
            shape, fortran, dtype = _HEADER_READERS[version](f)
        # numpy evaluates the header as a Python literal (re-tokenized for Python 2 files)
        except (ValueError, SyntaxError, RecursionError, tokenize.TokenError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ValueError(f"{path}: malformed .npy header ({reason})") from None
        if dtype.hasobject:
            raise ValueError(f"{path}: holds Python objects (dtype {dtype}), which would need "
                             "unpickling; refused, expected a numeric array")
        if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.shape:
            raise ValueError(f"{path}: dtype {dtype}; expected a numeric array (bool, int, "
                             "uint or float)")
        if any(d < 0 for d in shape):
            raise ValueError(f"{path}: header shape {shape} has a negative dimension")
        count = math.prod(shape)
        expected, found = count * dtype.itemsize, size - f.tell()
        if expected != found:
            raise ValueError(f"{path}: header shape {shape} of {dtype} needs {expected} data "
                             f"bytes, found {found} (truncated or not a .npy file?)")
        flat = np.empty(count, dtype=dtype)
        if f.readinto(flat.view(np.uint8)) != expected:
            raise ValueError(f"{path}: file shrank while being read")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
