"""``custom_imports``: modules a config needs imported before anything is built.

``custom_imports = dict(imports=['my_pkg.models'], allow_failed_imports=False)`` registers the
project's own models, hooks, optimizers... (their ``@MODELS.register_module()`` runs on import).
``Config.fromfile`` and ``Runner.from_cfg`` both apply it, through
:func:`kiln.utils.import_modules_from_strings`, with errors that name the config key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError

__all__ = ["import_custom_modules"]


def import_custom_modules(custom_imports: Any, path: str = "custom_imports") -> None:
    """Apply a config's ``custom_imports`` value (a dict, or None for nothing)."""
    from kiln.utils.misc import import_modules_from_strings

    if custom_imports is None:
        return
    if not isinstance(custom_imports, Mapping):
        raise ConfigError(path, f"expected dict(imports=[...], allow_failed_imports=False), but got "
                                f"{type(custom_imports).__name__}")
    unknown = sorted(set(custom_imports) - {"imports", "allow_failed_imports"})
    if unknown:
        raise ConfigError(path, f"unknown key(s) {unknown}; expected imports, allow_failed_imports")
    try:
        import_modules_from_strings(custom_imports.get("imports"),
                                    bool(custom_imports.get("allow_failed_imports", False)))
    except (ImportError, TypeError) as exc:
        raise ConfigError(f"{path}.imports", f"{exc}; is its package installed or on sys.path?") from exc
