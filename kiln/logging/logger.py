"""The library's one logger, with MMEngine's line format.

Console lines look like ``08/19 16:50:24 - kiln - INFO - message`` (the seeds' format); a run's
log file uses the full date. Only rank 0 prints below ERROR, so a multi-process run does not print
everything N times. The console handler writes to whatever ``sys.stdout`` is *now* (pytest's
capture, a redirected stream), not the stream that existed at import time.

``MMLogger`` (MMEngine's named loggers, ``get_instance``/``get_current_instance``) is built over
the same pipeline: an MMLogger has no console handler of its own; its records propagate to the
``kiln`` logger, so there is ONE console stream and ONE run log file whichever logger wrote a
line. An MMLogger given a ``log_file`` additionally writes that file.

Example:
    >>> from kiln.logging import MMLogger, get_logger, print_log
    >>> logger = get_logger()
    >>> print_log('hello', logger='current')  # doctest: +SKIP
    11/23 20:30:00 - kiln - INFO - hello
    >>> MMLogger.get_instance('exp', logger_name='det').info('hi')  # doctest: +SKIP
    11/23 20:30:00 - det - INFO - hi
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any

from kiln.utils.delayed_flush import DelayedFlush
from kiln.utils.manager import ManagerMixin

__all__ = ["get_logger", "print_log", "log_line", "log_file_path", "close_log_file", "flush_log_file",
           "set_display_name", "LOGGER_NAME",
           "MMLogger"]

LOGGER_NAME = "kiln"
_CONSOLE_DATEFMT = "%m/%d %H:%M:%S"
_FILE_DATEFMT = "%Y/%m/%d %H:%M:%S"
_display_name = LOGGER_NAME


class _Formatter(logging.Formatter):
    """MMEngine's layout; ERROR records also say where they came from."""

    def __init__(self, datefmt: str) -> None:
        super().__init__(datefmt=datefmt)
        self._head_key: tuple[int, str, str] | None = None
        self._head = ""

    def format(self, record: logging.LogRecord) -> str:
        name = _display_name if record.name == LOGGER_NAME else record.name  # an MMLogger's logger_name
        key = (int(record.created), name, record.levelname)
        if key != self._head_key:  # the date is formatted once per second, not per line
            self._head_key = key
            self._head = f"{self.formatTime(record, self.datefmt)} - {name} - {record.levelname} - "
        head = self._head
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


class _LogFileHandler(logging.FileHandler):
    """The run's log file, written in batches and never more than ``FLUSH_SECONDS`` late.

    A write system call per record (``FileHandler`` flushes each one) was the largest single cost
    of a train log line. Here the first record after a flush schedules one (kiln.utils.delayed_flush:
    a daemon timer), records of level WARNING and above flush at once, and so do epoch and run ends
    (LoggerHook), :meth:`close` and ``logging.shutdown`` at exit. A killed process loses at most
    the last ``FLUSH_SECONDS`` of INFO lines, as with any buffered file.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self, filename: str, mode: str = "a", encoding: str | None = None) -> None:
        super().__init__(filename, mode=mode, encoding=encoding)
        self._delayed = DelayedFlush(self.flush_now, self.FLUSH_SECONDS)

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)  # StreamHandler.emit ends with self.flush(): the delayed one
        if record.levelno >= logging.WARNING:
            self.flush_now()

    def flush(self) -> None:
        self._delayed.pending()

    def flush_now(self) -> None:
        """Write the buffered lines now (takes the handler's lock: safe from the timer's thread)."""
        super().flush()

    def close(self) -> None:
        self._delayed.cancel()
        self.flush_now()
        super().close()


def _dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` from the process group, else from the launcher's environment."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # pragma: no cover - torch without distributed
        pass
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _rank() -> int:
    return _dist_info()[0]


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
    handler = _LogFileHandler(path, mode=mode, encoding="utf-8")
    handler.setFormatter(_Formatter(_FILE_DATEFMT))
    logger.addHandler(handler)


def log_line(logger: logging.Logger, message: str) -> None:
    """``logger.info(message)`` without looking up the caller (a walk up the stack per line).

    For the per-interval lines of the train loop; the record goes through the logger's filters
    and handlers as usual (the file and line of an INFO record are not printed anyway).
    """
    if logger.isEnabledFor(logging.INFO):
        logger.handle(logger.makeRecord(logger.name, logging.INFO, "(log line)", 0, message, None, None))


def flush_log_file() -> None:
    """Write the run's buffered log lines to its file now (LoggerHook: at epoch and run ends)."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, _LogFileHandler):
            handler.flush_now()


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


class _FilterDuplicateWarning(logging.Filter):
    """Drop a WARNING whose message was already logged once (MMEngine's loggers do the same)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        message = record.getMessage()
        if message in self._seen:
            return False
        self._seen.add(message)
        return True


def _file_handler(path: str, mode: str, cfg: dict | None) -> logging.Handler:
    if cfg is None:
        return logging.FileHandler(path, mode=mode, encoding="utf-8")
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    handler_cls = getattr(logging.handlers, kind, None) if isinstance(kind, str) else None
    if not (isinstance(handler_cls, type) and issubclass(handler_cls, logging.FileHandler)):
        raise ValueError(f"file_handler_cfg.type: {kind!r} is not a file handler of logging.handlers "
                         "(e.g. 'RotatingFileHandler', 'TimedRotatingFileHandler')")
    if handler_cls is logging.handlers.RotatingFileHandler or handler_cls is logging.handlers.WatchedFileHandler:
        cfg.setdefault("mode", mode)
    return handler_cls(path, encoding="utf-8", **cfg)


class MMLogger(logging.Logger, ManagerMixin):
    """MMEngine's named logger, a real ``logging.Logger`` feeding kiln's one pipeline.

    Its records go to the ``kiln`` logger's console handler (rank 0 at its level, other ranks
    ERROR only) and to the run's log file, printed with ``logger_name``. With ``log_file`` it also
    writes that file: on rank 0 only, or one file per rank
    (``<stem>_device<local_rank>_rank<rank><ext>``) when ``distributed`` (or DEBUG) in a
    multi-process run, as in MMEngine.

    Args:
        name: Instance name (``MMLogger.get_instance(name)``).
        logger_name: Name printed in each line; None prints kiln's display name (``kiln``, or
            ``mmengine`` under the alias). MMEngine's default is ``'mmengine'``.
        log_file: An extra log file of this logger.
        log_level: This logger's threshold (the console keeps the pipeline's own level).
        file_mode: ``'w'`` truncates ``log_file`` (MMEngine's default), ``'a'`` appends.
        distributed: One ``log_file`` per rank in a multi-process run.
        file_handler_cfg: ``dict(type='RotatingFileHandler', maxBytes=..., ...)``: a
            ``logging.handlers`` file handler for ``log_file``.

    Example:
        >>> logger = MMLogger.get_instance('exp', log_file='work_dirs/exp.log')  # doctest: +SKIP
        >>> print_log('to the current logger', logger='current')  # doctest: +SKIP
    """

    def __init__(self, name: str, logger_name: str | None = None, log_file: str | os.PathLike | None = None,
                 log_level: int | str = "INFO", file_mode: str = "w", distributed: bool = False,
                 file_handler_cfg: dict | None = None) -> None:
        ManagerMixin.__init__(self, name)
        logging.Logger.__init__(self, logger_name or LOGGER_NAME, _level(log_level))
        if file_mode not in ("w", "a"):
            raise ValueError(f"file_mode: expected 'w' or 'a', but got {file_mode!r}")
        self.parent = get_logger()  # console + run file: the one pipeline
        self.propagate = True
        self.addFilter(_FilterDuplicateWarning())
        self._log_file: str | None = None
        if log_file is not None:
            self._attach_file(os.fspath(log_file), file_mode, distributed, file_handler_cfg)

    def _attach_file(self, path: str, mode: str, distributed: bool, cfg: dict | None) -> None:
        rank, world_size = _dist_info()
        if world_size > 1 and (distributed or self.level <= logging.DEBUG):
            stem, ext = os.path.splitext(path)
            path = f"{stem}_device{int(os.environ.get('LOCAL_RANK', '0'))}_rank{rank}{ext}"
        elif rank != 0:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handler = _file_handler(path, mode, cfg)
        handler.setFormatter(_Formatter(_FILE_DATEFMT))
        handler.setLevel(self.level)
        self.addHandler(handler)
        self._log_file = path

    @property
    def log_file(self) -> str | None:
        """This logger's own file, else the run's log file (None when logging to the console only)."""
        return self._log_file or log_file_path()

    def setLevel(self, level: int | str) -> None:  # noqa: N802 - logging's name
        super().setLevel(_level(level))

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        # Not cached: this logger is outside logging's manager, whose cache clearing (on any
        # setLevel, e.g. of the ``kiln`` logger this one follows when NOTSET) would not reach it.
        return self.manager.disable < level and level >= self.getEffectiveLevel()

    def close(self) -> None:
        """Close this logger's own file (the pipeline's console and run file stay)."""
        for handler in list(self.handlers):
            self.removeHandler(handler)
            handler.close()

    @classmethod
    def get_current_instance(cls) -> MMLogger:
        """The latest MMLogger; one named ``kiln`` is created the first time none exists.

        That default one has no level of its own: it follows the ``kiln`` logger's (``get_logger(log_level=...)``).
        """
        if not cls._instance_dict:
            return cls.get_instance(LOGGER_NAME, log_level=logging.NOTSET)
        return super().get_current_instance()


def print_log(msg: Any, logger: logging.Logger | str | None = None, level: int = logging.INFO) -> None:
    """Print ``msg`` the way MMEngine's ``print_log`` does.

    ``logger``: None prints with ``print``; ``'silent'`` drops it; ``'current'`` logs to the
    current :class:`MMLogger`; another str names an MMLogger (ValueError if none has that name);
    a ``logging.Logger`` (an MMLogger included) logs to it.
    """
    if logger is None:
        print(msg)
    elif isinstance(logger, logging.Logger):
        logger.log(level, msg)
    elif logger == "silent":
        return
    elif logger == "current":
        MMLogger.get_current_instance().log(level, msg)
    elif isinstance(logger, str):
        if not MMLogger.check_instance_created(logger):
            raise ValueError(f"print_log: MMLogger {logger!r} has not been created; use "
                             f"MMLogger.get_instance({logger!r}) first, or logger='current'")
        MMLogger.get_instance(logger).log(level, msg)
    else:
        raise TypeError(f"logger should be a logging.Logger, 'silent', 'current', an MMLogger name or None, "
                        f"but got {type(logger).__name__}")
