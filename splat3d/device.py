"""The ``--device`` flag: a torch device that exists here, or a one-line error."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``), checked to be usable.

    ``torch.device("cuda")`` succeeds on any machine and the failure only comes at the first
    transfer, as an ``AssertionError`` or a ``RuntimeError`` deep in torch; this checks first.

    Raises:
        ValueError: naming the flag and the value, for a string torch does not parse, a device
            type other than cpu/cuda/mps, CUDA or MPS that is not available, or a CUDA index
            beyond the GPUs present.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {name!r}: not a torch device; expected cpu, cuda, "
                         f"cuda:N or mps") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name!r}: CUDA is not available here (torch "
                             f"{torch.__version__}, CUDA build {torch.version.cuda}); "
                             f"use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"--device {name!r}: there are {count} CUDA device(s); expected "
                             f"an index below {count}")
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {name!r}: Apple MPS is not available here; "
                             f"use --device cpu")
        return device
    raise ValueError(f"--device {name!r}: device type {device.type!r} is not supported; "
                     f"expected cpu, cuda, cuda:N or mps")
