"""Typed access to the fields of parsed JSON documents, for the detection readers.

A JSON file parses into dicts, lists, strings, ints of any size, floats (``NaN`` and
``Infinity`` included: Python's parser accepts them) and booleans. Each reader wants one
shape per field; these functions check it and raise a one-line error naming the field
(``where``, e.g. ``"scene.json: boxes[3].size"``) with the expected and the found value, so
no malformed file reaches NumPy as an object array, a string or an overflowing integer.

Example:
    >>> finite_numbers([1, 2.5, 3], 3, "f.json: center")
    [1.0, 2.5, 3.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_SHOWN = 80
"""Characters of a found value quoted in a message (a whole list could be megabytes)."""


def shown(value: object) -> str:
    """``repr(value)`` cut to :data:`MAX_SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def field(obj: Mapping, key: str, where: str, error: type[ValueError] = ValueError) -> Any:
    """``obj[key]``; ``error`` naming ``where`` and the key when it is missing."""
    if key not in obj:
        raise error(f"{where}: missing field {key!r}")
    return obj[key]


def json_object(value: object, where: str, error: type[ValueError] = ValueError) -> dict:
    """``value`` if it is a JSON object (a dict)."""
    if not isinstance(value, dict):
        raise error(f"{where}: expected an object, found {shown(value)}")
    return value


def finite_number(value: object, where: str, error: type[ValueError] = ValueError) -> float:
    """``value`` as a float if it is a finite JSON number (not a boolean, not a string)."""
    number = _finite_or_none(value)
    if number is None:
        raise error(f"{where}: expected a finite number, found {shown(value)}")
    return number


def finite_numbers(
    value: object, size: int, where: str, error: type[ValueError] = ValueError
) -> list[float]:
    """``value`` as ``size`` floats if it is a list of ``size`` finite JSON numbers."""
    ok = isinstance(value, list) and len(value) == size
    numbers = [_finite_or_none(v) for v in value] if ok else [None]
    if None in numbers:
        raise error(f"{where}: expected {size} finite numbers, found {shown(value)}")
    return numbers


def _finite_or_none(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond the float range
        return None
    return number if math.isfinite(number) else None


def integer(value: object, where: str, error: type[ValueError] = ValueError,
            low: int = 0, high: int = 2**63 - 1) -> int:
    """``value`` if it is a JSON integer in ``[low, high]`` (``3.0`` and ``True`` are not)."""
    if not _is_integer_in(value, low, high):
        raise error(f"{where}: expected an integer in [{low}, {high}], found {shown(value)}")
    return value


def integers(value: object, where: str, error: type[ValueError] = ValueError,
             low: int = 0, high: int = 2**63 - 1) -> list[int]:
    """``value`` if it is a list of JSON integers in ``[low, high]``; the error names the
    first bad index."""
    if not isinstance(value, list):
        raise error(f"{where}: expected a list of integers, found {shown(value)}")
    for i, v in enumerate(value):
        if not _is_integer_in(v, low, high):
            raise error(f"{where}[{i}]: expected an integer in [{low}, {high}], found {shown(v)}")
    return value


def _is_integer_in(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high  # type(True) is bool, not int


def string(value: object, where: str, error: type[ValueError] = ValueError) -> str:
    """``value`` if it is a JSON string."""
    if not isinstance(value, str):
        raise error(f"{where}: expected a string, found {shown(value)}")
    return value
