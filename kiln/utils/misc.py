"""Small type checks and helpers downstream OpenMMLab code imports from ``mmengine.utils``."""

from __future__ import annotations

import collections.abc
import functools
import importlib
import inspect
import warnings
from collections.abc import Callable, Sequence
from itertools import repeat
from types import ModuleType
from typing import Any

__all__ = ["is_str", "is_seq_of", "is_list_of", "is_tuple_of", "is_method_overridden",
           "to_1tuple", "to_2tuple", "to_3tuple", "to_4tuple", "to_ntuple",
           "import_modules_from_strings", "deprecated_api_warning"]


def is_str(x: Any) -> bool:
    return isinstance(x, str)


def is_seq_of(seq: Any, expected_type: type | tuple[type, ...],
              seq_type: type | None = None) -> bool:
    """True if ``seq`` is a ``seq_type`` (default: any Sequence, str included) of ``expected_type``
    items (an empty one qualifies)."""
    if not isinstance(seq, seq_type if seq_type is not None else collections.abc.Sequence):
        return False
    return all(isinstance(item, expected_type) for item in seq)


def is_list_of(seq: Any, expected_type: type | tuple[type, ...]) -> bool:
    return is_seq_of(seq, expected_type, seq_type=list)


def is_tuple_of(seq: Any, expected_type: type | tuple[type, ...]) -> bool:
    return is_seq_of(seq, expected_type, seq_type=tuple)


def is_method_overridden(method: str, base_class: type, derived_class: type | Any) -> bool:
    """Whether ``derived_class`` (a class or an instance) overrides ``base_class.method``."""
    if not isinstance(base_class, type):
        raise TypeError(f"base_class must be a class, but got {base_class!r}")
    if not isinstance(derived_class, type):
        derived_class = type(derived_class)
    return getattr(derived_class, method) != getattr(base_class, method)


def to_ntuple(n: int) -> Callable[[Any], Any]:
    """A function that repeats a scalar ``n`` times; iterables (str too) pass through unchanged."""
    def parse(x: Any) -> Any:
        if isinstance(x, collections.abc.Iterable):
            return x
        return tuple(repeat(x, n))

    return parse


to_1tuple = to_ntuple(1)
to_2tuple = to_ntuple(2)
to_3tuple = to_ntuple(3)
to_4tuple = to_ntuple(4)


def import_modules_from_strings(imports: str | Sequence[str] | None,
                                allow_failed_imports: bool = False) -> ModuleType | list | None:
    """Import modules by dotted name (a config's ``custom_imports``).

    Returns the module for a str, a list for a list (failed imports as None when
    ``allow_failed_imports``, with a warning), None for None.
    """
    if not imports:
        return None
    single = isinstance(imports, str)
    names = [imports] if single else imports
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"custom imports must be a str or a list of str, but got {imports!r}")
    modules: list[ModuleType | None] = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            if not allow_failed_imports:
                raise ImportError(f"Failed to import {name} (custom_imports): {exc}") from exc
            warnings.warn(f"{name} failed to import and is ignored.", UserWarning, stacklevel=2)
            modules.append(None)
    return modules[0] if single else modules


def deprecated_api_warning(name_dict: dict[str, str], cls_name: str | None = None) -> Callable:
    """Decorator: accept old keyword names (``name_dict``: old → new) with a DeprecationWarning."""
    def decorator(func: Callable) -> Callable:
        params = list(inspect.signature(func).parameters)
        where = f"{cls_name}.{func.__name__}" if cls_name else func.__name__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in name_dict.items():
                if old in kwargs:
                    if new in kwargs or new in params[:len(args)]:
                        raise TypeError(f"{where}: got both the deprecated {old!r} and {new!r}")
                    warnings.warn(f'"{old}" is deprecated in `{where}`, please use "{new}" instead',
                                  DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorator


