"""``DefaultScope``: which package's registries a plain ``type='ResNet'`` is looked up in.

MMEngine keeps the default scope as a named global instance (``ManagerMixin``): the Runner
creates one named after the experiment with ``scope_name=cfg.default_scope``;
``init_default_scope('mypkg')`` does the same for scripts without a Runner; the newest instance is
the current one. :meth:`Registry.switch_scope_and_registry` reads it to pick the child registry.

Written self-contained (a small named-instance table), because the shared ``ManagerMixin`` was
not in the tree when this landed.

Example:
    >>> from kiln.registry import DefaultScope, init_default_scope
    >>> init_default_scope('mypkg')
    >>> DefaultScope.get_current_instance().scope_name
    'mypkg'
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from typing import ClassVar

__all__ = ["DefaultScope", "init_default_scope"]


class DefaultScope:
    """A named default scope; the most recently created or fetched instance is the current one.

    Args:
        name: The instance's name (the Runner uses its experiment name).
        scope_name: The scope (top-level package name of a downstream registry, e.g. ``'mmdet'``).
    """

    _instances: ClassVar[dict[str, DefaultScope]] = {}
    _current: ClassVar[list[str]] = []  # names, the current one last

    def __init__(self, name: str, scope_name: str) -> None:
        if not isinstance(scope_name, str) or not scope_name:
            raise TypeError(f"scope_name must be a non-empty str, but got {scope_name!r}")
        self._instance_name = name
        self._scope_name = scope_name

    @property
    def instance_name(self) -> str:
        return self._instance_name

    @property
    def scope_name(self) -> str:
        return self._scope_name

    def __repr__(self) -> str:
        return f"DefaultScope(name={self._instance_name!r}, scope_name={self._scope_name!r})"

    @classmethod
    def get_instance(cls, name: str, scope_name: str | None = None) -> DefaultScope:
        """The instance called ``name`` (created with ``scope_name`` if new); it becomes current."""
        instance = cls._instances.get(name)
        if instance is None:
            if scope_name is None:
                raise KeyError(f"no DefaultScope named {name!r}; pass scope_name= to create it")
            instance = cls(name, scope_name)
            cls._instances[name] = instance
        cls._make_current(name)
        return instance

    @classmethod
    def _make_current(cls, name: str) -> None:
        if name in cls._current:
            cls._current.remove(name)
        cls._current.append(name)

    @classmethod
    def get_current_instance(cls) -> DefaultScope | None:
        """The current default scope, or None when no scope was set."""
        return cls._instances[cls._current[-1]] if cls._current else None

    @classmethod
    def check_instance_created(cls, name: str) -> bool:
        return name in cls._instances

    @classmethod
    def _drop(cls, name: str) -> None:
        cls._instances.pop(name, None)
        if name in cls._current:
            cls._current.remove(name)

    @classmethod
    @contextlib.contextmanager
    def overwrite_default_scope(cls, scope_name: str | None) -> Generator[None, None, None]:
        """Within the block the default scope is ``scope_name`` (no change when None)."""
        if scope_name is None:
            yield
            return
        name = f"overwrite-{time.monotonic_ns()}-{id(object())}"
        cls.get_instance(name, scope_name=scope_name)
        try:
            yield
        finally:
            cls._drop(name)


def init_default_scope(scope: str) -> None:
    """Make ``scope`` the default scope (as ``Runner(default_scope=scope)`` does).

    Reuses the instance named ``scope`` when it exists, so calling it twice is harmless.
    """
    current = DefaultScope.get_current_instance()
    if current is not None and current.scope_name != scope:
        name = f"{scope}-{time.strftime('%Y%m%d_%H%M%S')}-{time.monotonic_ns()}"
        DefaultScope.get_instance(name, scope_name=scope)
        return
    DefaultScope.get_instance(scope, scope_name=scope)
