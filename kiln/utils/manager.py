"""``ManagerMixin``: named, process-wide instances of a class (MMEngine's global-instance pattern).

A run's message hub, logger and visualizer are reachable from anywhere without passing them
around: ``MessageHub.get_instance('run')`` creates (first call) or returns the hub of that name,
and ``get_current_instance()`` returns the most recently *created* one. Each subclass keeps its own
table, so ``MMLogger`` names never collide with ``MessageHub`` names.

Example:
    >>> class Store(ManagerMixin):
    ...     def __init__(self, name='', size=1):
    ...         super().__init__(name)
    ...         self.size = size
    >>> a = Store.get_instance('a', size=3)
    >>> Store.get_instance('a') is a and Store.get_current_instance() is a
    True
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, ClassVar, TypeVar

__all__ = ["ManagerMixin"]

T = TypeVar("T", bound="ManagerMixin")


class ManagerMixin:
    """Give a class ``get_instance``/``get_current_instance``/``check_instance_created``.

    Args:
        name: The instance's name (a non-empty str); ``instance_name`` returns it.
    """

    _instance_dict: ClassVar[OrderedDict[str, Any]] = OrderedDict()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._instance_dict = OrderedDict()  # one table per class, subclasses included

    def __init__(self, name: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}: name must be a non-empty str, but got {name!r}")
        self._instance_name = name

    @property
    def instance_name(self) -> str:
        return self._instance_name

    @classmethod
    def get_instance(cls: type[T], name: str, **kwargs: Any) -> T:
        """The instance called ``name``; created with ``kwargs`` (and made current) on first use.

        Extra ``kwargs`` for an existing instance are ignored with a warning, as in MMEngine.
        """
        instance = cls._instance_dict.get(name)
        if instance is None:
            return cls(name=name, **kwargs)._register_instance()
        if kwargs:
            warnings.warn(f"{cls.__name__} instance named {name!r} has been created; the method "
                          "`get_instance` should not accept any other arguments", stacklevel=2)
        return instance

    @classmethod
    def get_current_instance(cls: type[T]) -> T:
        """The most recently created instance (re-fetching an older one does not change it)."""
        if not cls._instance_dict:
            raise RuntimeError(f"Before calling {cls.__name__}.get_current_instance(), you should "
                               "call get_instance(name=xxx) at least once.")
        return next(reversed(cls._instance_dict.values()))

    @classmethod
    def check_instance_created(cls, name: str) -> bool:
        return name in cls._instance_dict

    def _register_instance(self: T) -> T:
        """Record ``self`` under its name as the newest instance (replacing a same-named one)."""
        table = type(self)._instance_dict
        table.pop(self._instance_name, None)
        table[self._instance_name] = self
        return self
