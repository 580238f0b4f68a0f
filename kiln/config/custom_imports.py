"""``custom_imports``: modules a config needs imported before anything is built.

``custom_imports = dict(imports=['my_pkg.models'], allow_failed_imports=False)`` registers the
project's own models, hooks, optimizers... (their ``@MODELS.register_module()`` runs on import).
``Config.fromfile`` and ``Runner.from_cfg`` both apply it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError

__all__ = ["import_custom_modules", "import_modules_from_strings"]


def import_modules_from_strings(imports: str | list[str] | None,
                                allow_failed_imports: bool = False, path: str = "custom_imports") -> list:
    """Import each module named in ``imports``; a failure is an error unless allowed (then warned)."""
    if not imports:
        return []
    names = [imports] if isinstance(imports, str) else imports
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}.imports", f"expected a module name or a list of them, but got {imports!r}")
    modules = []
    for i, name in enumerate(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            if not allow_failed_imports:
                raise ConfigError(f"{path}.imports[{i}]", f"cannot import {name!r}: {exc}; is its "
                                                          "package installed or on sys.path?") from exc
            from kiln.logging import print_log

            print_log(f"{name} failed to import and is ignored.", logger="current", level=30)
            modules.append(None)
    return modules


def import_custom_modules(custom_imports: Any, path: str = "custom_imports") -> None:
    """Apply a config's ``custom_imports`` value (a dict, or None for nothing)."""
    if custom_imports is None:
        return
    if not isinstance(custom_imports, Mapping):
        raise ConfigError(path, f"expected dict(imports=[...], allow_failed_imports=False), but got "
                                f"{type(custom_imports).__name__}")
    unknown = sorted(set(custom_imports) - {"imports", "allow_failed_imports"})
    if unknown:
        raise ConfigError(path, f"unknown key(s) {unknown}; expected imports, allow_failed_imports")
    import_modules_from_strings(custom_imports.get("imports"),
                                bool(custom_imports.get("allow_failed_imports", False)), path)
