"""A rich progress bar for training: step, loss, training-view PSNR, #Gaussians and it/s."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Iterations per second over rich's recent-speed window."""

    def render(self, task: Task) -> Text:
        return Text("-- it/s" if task.speed is None else f"{task.speed:.2f} it/s")


class TrainProgress:
    """Context manager around :class:`rich.progress.Progress`; silent when disabled.

    Example:
        >>> with TrainProgress(100, enabled=False) as bar:
        ...     bar.update(10, loss=0.1, psnr=20.0, num_gaussians=1000)
    """

    def __init__(self, total: int, start: int = 0, enabled: bool = True) -> None:
        self._console = Console(stderr=True, log_path=False)  # notes without "file.py:61"
        self._progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  PSNR {task.fields[psnr]:.2f}  "
                       "{task.fields[n]:,} Gaussians"),
            _RateColumn(), TimeRemainingColumn(), console=self._console, disable=not enabled,
        )
        self._task = self._progress.add_task("train", total=total, completed=start, loss=0.0,
                                             psnr=0.0, n=0)
        self._enabled = enabled

    def __enter__(self) -> TrainProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, step: int, *, loss: float, psnr: float, num_gaussians: int) -> None:
        self._progress.update(self._task, completed=step, loss=loss, psnr=psnr, n=num_gaussians)

    def note(self, message: str) -> None:
        """Print a line above the bar (or to stderr when the bar is disabled)."""
        if self._enabled:
            self._progress.console.log(message)
        else:
            self._console.print(message, highlight=False)
