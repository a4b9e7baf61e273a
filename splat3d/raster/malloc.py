"""glibc malloc tuning for the PyTorch backend's large short-lived temporaries.

Each compositing segment allocates and frees tensors of a few megabytes. By default glibc
serves such blocks with ``mmap`` and returns them with ``munmap``, so every segment pays
page faults on fresh memory (about 25% of a CPU render on a 2-core machine, see
BENCHMARKS.md). Raising the mmap and trim thresholds keeps freed blocks in the heap for
reuse. It is applied once, on the first CPU render, and does nothing off glibc.
"""

from __future__ import annotations

import ctypes
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def tune_malloc(threshold: int = 1 << 30) -> bool:
    """Keep blocks up to ``threshold`` bytes in the heap; returns whether it took effect."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, threshold) == 1
    return ok and libc.mallopt(_M_TRIM_THRESHOLD, threshold) == 1
