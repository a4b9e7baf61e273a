"""Temporary stand-in for ``splat3d.fileio.read_json`` (issue #20), same contract.

Another branch adds ``read_json`` to :mod:`splat3d.fileio`; until it is merged the detection
readers import this one. When merging, replace every ``from detection._read_json_tmp import
read_json`` with ``from splat3d.fileio import read_json`` and delete this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON document in ``path``.

    Raises:
        FileNotFoundError: when ``path`` does not exist (other ``OSError`` when unreadable).
        ValueError: one line naming the file for invalid JSON (with line and column), bytes
            that are not UTF-8, a document nested too deeply for the parser, or an integer
            literal beyond Python's int-conversion limit. Worded as ``splat3d.fileio``'s.
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
    except ValueError as err:  # an integer literal beyond sys.get_int_max_str_digits()
        raise ValueError(f"{path}: unreadable JSON value: {err}") from None
