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
        FileNotFoundError: when ``path`` does not exist.
        ValueError: one line naming the file for malformed JSON, a document nested too
            deeply for the parser, or bytes that are not UTF-8.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed JSON ({err})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to read") from None
