"""The dataset layer's exception and warning types.

Every reader turns a bad input (a missing file, a malformed field, a degenerate pose) into a
:class:`DatasetError` whose message names the file and, where there is one, the frame, so a
user never has to decode a stack trace from inside numpy or PIL.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset on disk cannot be read: the message names the file, frame and field."""


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped because skipping it is safe (e.g. an invalid pose)."""
