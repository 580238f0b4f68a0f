"""DelayedFlush: buffered output that is never more than a bounded time late.

The run's log file and ``scalars.json`` are written in batches (a write system call per log line
was the largest single cost of a log line in a tight loop). Flushing "at the next write once a
second has passed" would leave the last line unwritten for as long as the next one takes — minutes
with slow iterations. Instead the first buffered write after a flush starts a daemon timer that
flushes ``seconds`` later: a burst of writes costs one flush, and nothing waits longer than that.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> delayed = DelayedFlush(out.flush, seconds=0.0)  # 0: flush at once
    >>> delayed.pending()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["DelayedFlush"]


class DelayedFlush:
    """Call ``flush`` at most ``seconds`` after :meth:`pending` is first called since the last flush.

    ``flush`` runs on the timer's thread, so the owner guards its buffer with its own lock (the
    logging handler's lock, the backend's record lock).

    Args:
        flush: Writes what is buffered.
        seconds: The longest a buffered write waits; 0 or less flushes in :meth:`pending`.
    """

    def __init__(self, flush: Callable[[], None], seconds: float) -> None:
        self._flush = flush
        self.seconds = seconds
        self._timer: threading.Timer | None = None
        self._pid = os.getpid()  # the process whose thread the timer is

    def pending(self) -> None:
        """Something was buffered: make sure a flush comes within ``seconds``."""
        if self._timer is not None and self._pid == os.getpid():  # one is on its way (a forked
            return  # child has no timer thread: it schedules its own)
        if self.seconds <= 0:
            self._flush()
            return
        timer = threading.Timer(self.seconds, self._run)
        timer.daemon = True  # never keeps the interpreter alive; logging.shutdown flushes at exit
        self._timer, self._pid = timer, os.getpid()
        timer.start()

    def _run(self) -> None:
        self._timer = None  # a write from here on schedules the next flush
        self._flush()

    def cancel(self) -> None:
        """Drop the scheduled flush (the owner flushes itself, e.g. when closing)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
