"""Config → Python text: ``key = dict(a=1, ...)`` lines that read back to an equal config.

Dicts print as ``dict(...)`` (``{...}`` when a key is not an identifier), long values break over
lines, and classes/functions print as their import path (``torch.optim.sgd.SGD``); ``imports``
or, for :meth:`Config.dump`, as names imported on top of the file.
A class that cannot be imported again (defined in ``__main__`` or a function) prints as its
dotted name in a string.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from typing import Any

__all__ = ["format_assignments", "importable_name", "literal"]

_WIDTH = 100


def importable_name(obj: Any) -> tuple[str | None, str]:
    """``(module, 'module.qualname')``; module None when it cannot be imported back."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    dotted = f"{module}.{qualname}" if module else qualname
    if not module or module == "__main__" or "<" in qualname:
        return None, dotted
    return module, dotted


def literal(value: Any) -> Any:
    """``value`` with classes/functions as dotted-name strings (for json/yaml)."""
    if isinstance(value, Mapping):
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, tuple):
        return [literal(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type) or callable(value):
        return importable_name(value)[1]
    return repr(value)


def _is_identifier(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


class _Imports:
    """The ``from module import Name [as alias]`` lines a dumped config needs (None: print dotted)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.aliases: dict[tuple[str, str], str] = {}

    def name(self, module: str, qualname: str) -> str:
        if not self.active:
            return f"{module}.{qualname}"
        top, _, rest = qualname.partition(".")
        alias = self.aliases.get((module, top))
        if alias is None:
            taken = set(self.aliases.values())
            alias, n = top, 1
            while alias in taken:
                alias, n = f"{top}_{n}", n + 1
            self.aliases[(module, top)] = alias
        return alias + (f".{rest}" if rest else "")

    def lines(self) -> str:
        return "".join(f"from {module} import {top}" + (f" as {alias}" if alias != top else "") + "\n"
                       for (module, top), alias in sorted(self.aliases.items()))


def _atom(value: Any, imports: _Imports) -> str:
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        module, dotted = importable_name(value)
        if module is None:
            return repr(dotted)
        return imports.name(module, dotted[len(module) + 1:])
    return repr(value)


def _format(value: Any, indent: int, imports: _Imports) -> str:
    if isinstance(value, Mapping):
        named = all(_is_identifier(k) for k in value)
        items = [(f"{k}=" if named else f"{k!r}: ", v) for k, v in value.items()]
        opening, closing = ("dict(", ")") if named else ("{", "}")
    elif isinstance(value, (list, tuple)):
        items = [("", v) for v in value]
        opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
        if isinstance(value, tuple) and len(value) == 1:
            closing = ",)"
    else:
        return _atom(value, imports)
    parts = [prefix + _format(v, indent + 4, imports) for prefix, v in items]
    flat = opening + ", ".join(parts) + closing
    if len(flat) + indent <= _WIDTH and "\n" not in flat:
        return flat
    pad = " " * (indent + 4)
    return opening + "\n" + ",\n".join(pad + p for p in parts) + ",\n" + " " * indent + closing


def format_assignments(cfg: Mapping[str, Any], with_imports: bool = False) -> str:
    """The config as ``key = value`` lines; ``with_imports`` puts the imports its classes need
    on top (and names them as imported) instead of writing dotted paths."""
    imports = _Imports(with_imports)
    lines = [f"{key} = {_format(value, 0, imports)}" for key, value in cfg.items()]
    body = "\n".join(lines) + ("\n" if lines else "")
    header = imports.lines()
    return header + ("\n" if header else "") + body
