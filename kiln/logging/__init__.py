"""Logging: the ``kiln`` logger and ``print_log`` (``logger``), ``MessageHub`` and ``HistoryBuffer``.

The logger is imported eagerly (every module logs through it and it is cheap); the message hub
loads when named.
"""

from kiln._lazy import attach
from kiln.logging.logger import (
    LOGGER_NAME,
    close_log_file,
    get_logger,
    log_file_path,
    print_log,
    set_display_name,
)

_getattr, __dir__, _lazy = attach(__name__, {
    "message_hub": ["MessageHub", "HistoryBuffer"],
})
__getattr__ = _getattr
__all__ = ["LOGGER_NAME", "close_log_file", "get_logger", "log_file_path", "print_log", "set_display_name", *_lazy]
