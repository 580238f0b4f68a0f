"""The library's one logger, with MMEngine's line format.

Console lines look like ``08/19 16:50:24 - kiln - INFO - message`` (the seeds' format); a run's
log file uses the full date. Only rank 0 prints below ERROR, so a multi-process run does not print
everything N times. The console handler writes to whatever ``sys.stdout`` is *now* (pytest's
capture, a redirected stream), not the stream that existed at import time.

Example:
    >>> from kiln.logging import get_logger, print_log
    >>> logger = get_logger()
    >>> print_log('hello', logger='current')  # doctest: +SKIP
    11/23 20:30:00 - kiln - INFO - hello
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

__all__ = ["get_logger", "print_log", "log_file_path", "close_log_file", "set_display_name", "LOGGER_NAME"]

LOGGER_NAME = "kiln"
_CONSOLE_DATEFMT = "%m/%d %H:%M:%S"
_FILE_DATEFMT = "%Y/%m/%d %H:%M:%S"
_display_name = LOGGER_NAME


class _Formatter(logging.Formatter):
    """MMEngine's layout; ERROR records also say where they came from."""

    def __init__(self, datefmt: str) -> None:
        super().__init__(datefmt=datefmt)

    def format(self, record: logging.LogRecord) -> str:
        head = f"{self.formatTime(record, self.datefmt)} - {_display_name} - {record.levelname} - "
        if record.levelno >= logging.ERROR:
            head += f"{record.pathname} - {record.funcName} - {record.lineno} - "
        text = head + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _StdoutHandler(logging.StreamHandler):
    """A stream handler bound to the current ``sys.stdout`` at emit time."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - property
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; we always follow sys.stdout
        pass


def _rank() -> int:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
    except Exception:  # pragma: no cover - torch without distributed
        pass
    return int(os.environ.get("RANK", "0"))


def _level(level: int | str) -> int:
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f"log_level: unknown level {level!r}; expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value
    return level


def get_logger(
    log_file: str | os.PathLike | None = None,
    log_level: int | str | None = None,
    file_mode: str = "a",
) -> logging.Logger:
    """Return kiln's logger, creating its console handler on first use.

    Args:
        log_file: If given, the run's log file: every record (and the init report) also goes
            there. It replaces the file of a previous run in the same process.
        log_level: Level of the logger and its console handler (default INFO).
        file_mode: ``'a'`` appends, ``'w'`` truncates.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        console = _StdoutHandler()
        console.setFormatter(_Formatter(_CONSOLE_DATEFMT))
        logger.addHandler(console)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if log_level is not None:
        logger.setLevel(_level(log_level))
    rank = _rank()
    for handler in logger.handlers:
        if isinstance(handler, _StdoutHandler):
            handler.setLevel(logger.level if rank == 0 else logging.ERROR)
    if log_file is not None:
        _replace_file_handler(logger, os.fspath(log_file), file_mode, rank)
    return logger


def _replace_file_handler(logger: logging.Logger, path: str, mode: str, rank: int) -> None:
    for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(handler)
        handler.close()
    if rank != 0:  # one log file per run, written by rank 0
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handler = logging.FileHandler(path, mode=mode, encoding="utf-8")
    handler.setFormatter(_Formatter(_FILE_DATEFMT))
    logger.addHandler(handler)


def close_log_file() -> None:
    """Detach and close the run's log file (the Runner calls this after a run)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(handler)
        handler.close()


def log_file_path() -> str | None:
    """Path of the run's log file, or None when kiln logs to the console only."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def set_display_name(name: str) -> None:
    """Set the name printed in each line (the ``mmengine`` alias prints ``mmengine``)."""
    global _display_name
    _display_name = name


def print_log(msg: Any, logger: logging.Logger | str | None = None, level: int = logging.INFO) -> None:
    """Print ``msg`` the way MMEngine's ``print_log`` does.

    ``logger`` may be None (plain ``print``), ``'silent'`` (nothing), ``'current'`` or any other
    name (kiln's logger), or a ``logging.Logger``.
    """
    if logger is None:
        print(msg)
    elif isinstance(logger, logging.Logger):
        logger.log(level, msg)
    elif logger == "silent":
        return
    elif isinstance(logger, str):
        get_logger().log(level, msg)
    else:
        raise TypeError(f"logger should be a logging.Logger, 'silent', 'current' or None, "
                        f"but got {type(logger).__name__}")
