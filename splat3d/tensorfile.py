"""Reading ``torch.save`` files without ever unpickling code.

Every ``.pt`` file the workbench opens (checkpoints, detector weights, prior weights, caches)
may come from someone else's run folder, and a pickle can run arbitrary code when it is
loaded. :func:`load_tensor_file` is the one place such files are read: it uses PyTorch's
restricted unpickler (``weights_only=True``: tensors, numbers, strings, lists, tuples, dicts)
and turns every way a file can be bad into one ``ValueError`` that names it.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch


def load_tensor_file(path: str | os.PathLike, what: str,
                     map_location: str | torch.device = "cpu") -> Any:
    """The object saved at ``path`` by ``torch.save``, holding tensors and plain data only.

    Args:
        path: the file.
        what: what the file should be, for messages (e.g. ``"checkpoint"``).
        map_location: device the tensors are loaded onto.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is truncated or not a torch file, or holds Python objects other
            than tensors and plain data (it is refused before any of them is built).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about the protocol of foreign pickles
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found:
            raise ValueError(f"{path}: refused to load this {what}: it refers to the Python "
                             f"object {found.group(1)}, and loading it could run code (only "
                             f"tensors and plain data are read)") from None
        raise ValueError(f"{path}: not a readable {what} (not a torch file, or "
                         f"corrupt)") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, KeyError,
            IndexError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable {what} (truncated or corrupt: "
                         f"{type(err).__name__})") from None
