"""Logging: the ``kiln`` logger, ``MMLogger`` and ``print_log`` (``logger``), ``MessageHub``
(``message_hub``) and ``HistoryBuffer`` (``history_buffer``).

The logger is imported eagerly (every module logs through it and it is cheap); the message hub
and history buffer load when named.
"""

from kiln._lazy import attach
from kiln.logging.logger import (
    LOGGER_NAME,
    MMLogger,
    close_log_file,
    get_logger,
    log_file_path,
    print_log,
    set_display_name,
)

_getattr, _lazy_dir, _lazy = attach(__name__, {
    "message_hub": ["MessageHub"],
    "history_buffer": ["HistoryBuffer"],
})
__getattr__ = _getattr
__all__ = ["LOGGER_NAME", "MMLogger", "close_log_file", "get_logger", "log_file_path", "print_log",
           "set_display_name", *_lazy]


def __dir__() -> list[str]:
    return sorted(__all__)
