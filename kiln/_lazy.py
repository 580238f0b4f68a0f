"""Lazy package exports (PEP 562): ``from kiln.model import BaseModel`` imports only what it names.

Keeps ``import kiln.model`` nearly free (the issue's budget is 0.15 s on top of ``import torch``)
and lets each concept live in its own module without a heavy ``__init__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def attach(package: str, submodules: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    ``submodules`` maps a submodule name (relative, e.g. ``'base_module'``, or absolute, e.g.
    ``'kiln.dataset.sampler'`` for a name re-exported from where it moved) to the public names it
    defines.
    """
    where = {name: module for module, names in submodules.items() for name in names}
    exported = sorted(where)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if module.startswith("kiln.") else f"{package}.{module}"
        value = getattr(importlib.import_module(target), name)
        importlib.import_module(package).__dict__[name] = value  # cache: next access is a dict hit
        return value

    def __dir__() -> list[str]:
        return exported

    return __getattr__, __dir__, exported
