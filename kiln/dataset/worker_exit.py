"""DataLoader workers that exit when the process that started them dies, even while starting.

torch's worker loop detects a dead parent by comparing ``os.getppid()`` with the value it read
when its watchdog was created, after ``worker_init_fn`` returned. When the main process dies
(SIGKILL, OOM killer) before a worker got that far (a worker just forked at the start of an
epoch, on a loaded machine), the worker has already been adopted: it records the adoptive
parent's pid, never sees a change and runs forever, holding the job's stdout/stderr, its shared
memory and (on a GPU) its CUDA context. :func:`exit_with_parent` watches the pid of the process
that created the worker (``multiprocessing.parent_process()``, set in the parent, so it cannot be
read too late) from a daemon thread started in ``worker_init_fn``, and exits the worker once it
has been adopted. ``build_dataloader`` installs it for every loader with workers.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ExitWithParent", "exit_with_parent", "guard_workers"]

_INTERVAL_S = 1.0  # one getppid() a second per worker; torch's own check runs every 5 s


class ExitWithParent:
    """A ``worker_init_fn`` that first starts :func:`exit_with_parent`, then calls ``fn``.

    A class, not a closure, so it pickles for the ``spawn`` start method.
    """

    def __init__(self, fn: Callable[[int], Any] | None = None) -> None:
        self.fn = fn

    def __call__(self, worker_id: int) -> None:
        exit_with_parent()
        if self.fn is not None:
            self.fn(worker_id)


def exit_with_parent(interval: float = _INTERVAL_S) -> bool:
    """In a worker process: exit (``os._exit(1)``) as soon as the process that started it died.

    Returns whether the watch was started (not on Windows, where torch's handle-based check has
    no such race, nor under ``forkserver``, whose workers are the fork server's children).
    """
    parent = multiprocessing.parent_process()
    if parent is None or sys.platform == "win32" or _started_by_forkserver():
        return False
    pid = parent.pid  # fork and spawn: the OS parent, until the worker is adopted

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(interval)
        os._exit(1)  # nobody is left to shut this worker down or read its results

    threading.Thread(target=watch, name="kiln-exit-with-parent", daemon=True).start()
    return True


def _started_by_forkserver() -> bool:
    from multiprocessing import context

    process = multiprocessing.current_process()
    if isinstance(process, getattr(context, "ForkServerProcess", ())):
        return True
    return type(process) is context.Process and multiprocessing.get_start_method(allow_none=True) == "forkserver"


def guard_workers(loader: Any) -> Any:
    """Make the workers of a ready-made ``DataLoader`` exit with a killed main process too.

    Its ``worker_init_fn`` (kept, called after the guard) is wrapped once; a loader without
    workers is returned as it is.
    """
    if getattr(loader, "num_workers", 0) > 0 and not isinstance(loader.worker_init_fn, ExitWithParent):
        loader.worker_init_fn = ExitWithParent(loader.worker_init_fn)
    return loader
