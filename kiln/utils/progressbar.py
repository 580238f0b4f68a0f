"""A rich progress bar per train epoch / validation / test, shown only when stdout is a terminal.

In CI, in files, or under pytest's capture there is no bar: the log lines are the whole output.
``advance()`` runs every iteration, so it only counts; the bar is redrawn at most
``refresh_per_second`` times (rich also refreshes on its own thread). rich is imported lazily.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kiln.dist import is_main_process

__all__ = ["ProgressBar", "stdout_is_terminal", "track_iter_progress", "track_progress"]


def stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgressBar:
    """One live bar at a time (``start`` → ``advance`` … → ``stop``).

    Args:
        enabled: True/False to force; None shows it when stdout is a terminal (rank 0 only).
        refresh_per_second: Upper bound of redraws.
    """

    def __init__(self, enabled: bool | None = None, refresh_per_second: float = 4.0) -> None:
        self.enabled = enabled
        self._interval = 1.0 / refresh_per_second
        self._progress: Any = None
        self._task: Any = None
        self._done = 0
        self._shown = 0
        self._last = 0.0

    @property
    def active(self) -> bool:
        return self._progress is not None

    def wanted(self) -> bool:
        """Whether ``start`` shows a bar (rank 0, and a terminal unless forced)."""
        if not is_main_process():
            return False
        return stdout_is_terminal() if self.enabled is None else bool(self.enabled)

    def start(self, description: str, total: int | None, completed: int = 0) -> None:
        """Open a bar (closing any previous one); a no-op when no terminal is attached."""
        self.stop()
        if not self.wanted():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            # Log lines printed meanwhile go through rich (redirect_stdout) and appear above the
            # bar; soft_wrap keeps them one line each (no hard breaks at the terminal width).
            console=Console(soft_wrap=True), refresh_per_second=1.0 / self._interval,
            transient=True, redirect_stdout=True)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, completed=completed)
        self._done = self._shown = completed
        self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` finished iterations; push them to the bar at most a few times per second."""
        if self._progress is None:
            return
        self._done += n
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._progress.update(self._task, completed=self._done)
            self._shown, self._last = self._done, now

    def stop(self) -> None:
        if self._progress is None:
            return
        self._progress.update(self._task, completed=self._done)
        self._progress.stop()
        self._progress = self._task = None


def track_iter_progress(tasks: Any, description: str = "Processing",
                        enabled: bool | None = None) -> Any:
    """Yield the items of ``tasks`` (a sized iterable, or ``(iterable, total)``) under a bar.

    The bar shows only on a terminal (rank 0), as for the runner's bars; elsewhere this is a
    plain loop.
    """
    if isinstance(tasks, tuple) and len(tasks) == 2 and isinstance(tasks[1], int):
        tasks, total = tasks
    elif hasattr(tasks, "__len__"):
        total = len(tasks)
    else:
        raise TypeError('"tasks" must be a sized iterable or a tuple of (iterable, total)')
    bar = ProgressBar(enabled)
    bar.start(description, total)
    try:
        for task in tasks:
            yield task
            bar.advance()
    finally:
        bar.stop()


def track_progress(func: Any, tasks: Any, description: str = "Processing",
                   enabled: bool | None = None, **kwargs: Any) -> list:
    """``[func(task, **kwargs) for task in tasks]`` under a progress bar."""
    return [func(task, **kwargs) for task in track_iter_progress(tasks, description, enabled)]
