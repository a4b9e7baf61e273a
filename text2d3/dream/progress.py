"""A rich progress bar for distillation: stage, step, the current diffusion-time range, loss,
number of Gaussians and the time left."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class DreamProgress:
    """Context manager around :class:`rich.progress.Progress`; silent when disabled.

    Example:
        >>> with DreamProgress(100, enabled=False) as bar:
        ...     bar.update(10, stage="geometry", t_range=(0.02, 0.9), loss=0.1, num_gaussians=10)
    """

    def __init__(self, total: int, enabled: bool = True) -> None:
        self._console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]dream {task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("t [{task.fields[t_lo]:.2f}, {task.fields[t_hi]:.2f}]  "
                       "loss {task.fields[loss]:.4g}  {task.fields[n]:,} Gaussians"),
            TimeRemainingColumn(), console=self._console, disable=not enabled)
        self._task = self._progress.add_task("dream", total=total, stage="", t_lo=0.0, t_hi=0.0,
                                             loss=0.0, n=0)

    def __enter__(self) -> DreamProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, step: int, *, stage: str, t_range: tuple[float, float], loss: float,
               num_gaussians: int) -> None:
        """Show the state after ``step`` completed steps (over all stages)."""
        self._progress.update(self._task, completed=step, stage=stage, t_lo=t_range[0],
                              t_hi=t_range[1], loss=loss, n=num_gaussians)
