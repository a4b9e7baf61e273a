"""What stops a training run early, and how it stops cleanly.

* Stop signals (SIGINT from Ctrl-C, SIGTERM from ``kill`` or a batch scheduler, SIGHUP when
  the terminal goes away) are turned into a flag checked between steps, so the running step
  finishes and a checkpoint is written; then :class:`TrainingInterrupted` is raised.
* Non-finite numbers: one NaN in a parameter spreads to its neighbours through the
  densification statistics and the optimiser, silently, while the logged loss can stay
  finite. :func:`non_finite_params` finds them (cheaply, so the trainer can look often) and
  the trainer stops with :class:`NonFiniteError` before anything non-finite is published.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping

import torch

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
"""Signals that end a run with a checkpoint (SIGHUP does not exist on Windows)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal; the message (one line) names the signal, the step and
    where the checkpoint is. A ``KeyboardInterrupt`` so that code catching ``Exception``
    does not swallow a user's Ctrl-C."""


class NonFiniteError(ValueError):
    """The loss or a parameter became NaN or infinite; the message (one line) names the step
    and the parameter group. Nothing non-finite has been written."""


class StopRequest:
    """The first stop signal received (None until then), set from the signal handler."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def is_set(self) -> bool:
        return self.signal_name is not None


@contextlib.contextmanager
def deferred_stop_signals(on_second: str) -> Iterator[StopRequest]:
    """Record SIGINT / SIGTERM / SIGHUP instead of dying, so the caller can stop at a step
    boundary with a checkpoint. A second signal raises :class:`TrainingInterrupted` at once
    with ``on_second`` in its message. Outside the main thread signals cannot be caught; the
    request then never fires."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if request.is_set():
            raise TrainingInterrupted(f"second {name}: stopped at once; {on_second}")
        request.signal_name = name

    # a signal ignored on purpose stays ignored (``nohup`` ignores SIGHUP for the run)
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def non_finite_params(params: Mapping[str, torch.Tensor]) -> str | None:
    """None when every value of ``params`` (each ``[N, ...]``, one row per Gaussian) is
    finite; otherwise a description such as ``1,594 of 5,000 Gaussians have non-finite 'shN'
    values`` (or ``... have non-finite values: 'means' in 7, 'quats' in 3`` for several
    groups).

    The common case costs one sum per tensor and a single device sync (about 1.5 ms for
    100,000 Gaussians of SH degree 3 on one CPU thread, against 50-70 ms for an element-wise
    ``isfinite`` or a float64 sum): a NaN or infinity always makes the sum non-finite, and
    only then are the values inspected one by one (a finite sum that overflowed is let go).
    """
    sums = torch.stack([p.detach().sum() for p in params.values()])
    if bool(torch.isfinite(sums).all()):
        return None
    bad = {name: ~torch.isfinite(p.detach().reshape(p.shape[0], -1)).all(dim=1)
           for name, p in params.items()}  # [N] per group
    counts = {name: int(rows.sum()) for name, rows in bad.items() if rows.any()}
    if not counts:  # the sum overflowed: huge values, but finite ones
        return None
    total = int(torch.stack(list(bad.values())).any(dim=0).sum())
    head = f"{total:,} of {next(iter(params.values())).shape[0]:,} Gaussians have non-finite"
    if len(counts) == 1:
        return f"{head} {next(iter(counts))!r} values"
    return f"{head} values: " + ", ".join(f"{k!r} in {n:,}" for k, n in counts.items())
