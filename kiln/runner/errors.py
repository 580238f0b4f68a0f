"""What a failed or interrupted run does on its way out: name the origin, log it, close things.

An exception leaving ``train()``/``val()``/``test()`` gets a note with where the run was
(iteration, epoch), is written with its traceback to the run's log file (the console shows it
anyway when Python prints it), and the run's open things are closed on every exit path: the
visualizer's ``scalars.json`` and the timestamped json, and the DataLoader worker processes of
the loops. Hooks, metrics, datasets and ``train_step`` add their own notes where they are
called (``kiln.errors.add_origin``), so the message says which one failed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from kiln.dataset.dataloader import stop_workers
from kiln.dist import is_distributed
from kiln.dist.launch import describe_failed_ranks, report_failure
from kiln.errors import ConfigError, add_origin

__all__ = ["run_guard", "close_run", "log_fatal"]


@contextlib.contextmanager
def run_guard(runner: Any, phase: str) -> Iterator[None]:
    """Around ``Runner.train()``/``val()``/``test()``: log and clean up any exception, re-raise it."""
    try:
        yield
    except SystemExit:  # preemption exits with 128 + signal after saving and closing
        close_run(runner)
        raise
    except BaseException as exc:
        if not isinstance(exc, ConfigError):  # a config error names its key; it is not a position
            where = _position(runner) if phase == "train" else ""
            add_origin(exc, f"during {phase}(){where}")
        if is_distributed():
            _name_failed_ranks(exc)
        log_fatal(runner, exc, phase)
        close_run(runner)
        raise


def _name_failed_ranks(exc: BaseException) -> None:
    """This rank tells the others it failed; a collective that failed names the ranks that did."""
    report_failure(exc)
    if isinstance(exc, (RuntimeError, TimeoutError)):  # what a failed collective raises
        peers = describe_failed_ranks()
        if peers:
            exc.add_note(f"kiln: {peers}")


def _position(runner: Any) -> str:
    state = getattr(runner, "train_progress", None)
    if state is None or not hasattr(state, "batch_idx_in_epoch"):
        return " before the first iteration"
    return f" at iteration {state.iter + 1} (epoch {state.epoch + 1}, batch {state.batch_idx_in_epoch})"


def log_fatal(runner: Any, exc: BaseException, phase: str) -> None:
    """Write ``exc`` and its traceback to the run's log file only (the console prints it anyway)."""
    logger = getattr(runner, "logger", None)
    if logger is None:
        return
    kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0,
                               f"{phase}() {kind}: {type(exc).__name__}: {exc}", None,
                               (type(exc), exc, exc.__traceback__))
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)  # an ERROR record: written through at once (StreamHandler.emit)


def close_run(runner: Any) -> None:
    """Close the writers and stop the DataLoader workers (idempotent; never raises)."""
    for loop_name in ("_train_loop", "_val_loop", "_test_loop"):
        loop = getattr(runner, loop_name, None)
        with contextlib.suppress(Exception):
            stop_workers(getattr(loop, "_iterator", None), getattr(loop, "dataloader", None))
    visualizer = getattr(runner, "visualizer", None)
    if visualizer is not None:
        with contextlib.suppress(Exception):
            visualizer.close()
