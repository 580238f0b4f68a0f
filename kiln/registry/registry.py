"""Registries: map the ``type`` string of a config dict to the class or function that builds it.

Every configurable component (models, weight initializers, optimizers, hooks, loops, metrics ...)
is looked up here, so that ``dict(type='Kaiming', a=0)`` becomes ``KaimingInit(a=0)``. A registry
may name the modules that register into it (``locations``); they are imported on the first miss,
which keeps ``import kiln`` cheap while ``build(dict(type='Kaiming'))`` still works before anyone
imported ``kiln.model``.

Registries form trees, as in MMEngine: a downstream package makes a child of a root registry
(``MODELS = Registry('model', parent=ROOT_MODELS, scope='mypkg')``). A lookup starts in the child
and falls back to its ancestors; ``'mypkg.ResNet'`` names an entry of the ``mypkg`` registry from
anywhere in the tree; the default scope (:mod:`kiln.registry.default_scope`) says which child a
root registry builds from.

Example:
    >>> from kiln.registry import Registry
    >>> CONVERTERS = Registry('converter')
    >>> @CONVERTERS.register_module()
    ... class Upper:
    ...     def __call__(self, s):
    ...         return s.upper()
    >>> CONVERTERS.build(dict(type='Upper'))('x')
    'X'
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import sys
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

from kiln.errors import ConfigError
from kiln.registry.build_functions import build_from_cfg

__all__ = ["Registry", "split_scope_key"]

#: The scope names the root of every kiln registry tree answers to (MMEngine configs say 'mmengine').
ROOT_SCOPES = ("kiln", "mmengine")


def split_scope_key(key: str) -> tuple[str | None, str]:
    """``'mmdet.ResNet'`` → ``('mmdet', 'ResNet')``; ``'ResNet'`` → ``(None, 'ResNet')``."""
    scope, dot, name = key.partition(".")
    return (scope, name) if dot else (None, key)


def _caller_package(depth: int) -> str:
    """Top-level package of the module ``depth`` frames up (MMEngine infers a scope this way)."""
    try:
        name = sys._getframe(depth).f_globals.get("__name__", "")
    except ValueError:
        return "__main__"
    return (name or "__main__").split(".")[0]


class Registry:
    """A name → class (or function) table with config-driven ``build``.

    Args:
        name: Human-readable name used in error messages (``'weight initializer'``).
        build_func: Replacement for :func:`build_from_cfg`, called as
            ``build_func(cfg, *args, registry=self, **kwargs)``; a child inherits its parent's.
        parent: The registry this one falls back to (a downstream package's child of a root
            registry).
        scope: Name of this registry in its tree; default: the top-level package of the module
            that creates it (``mypkg`` for ``mypkg/registry.py``).
        locations: Modules imported on the first lookup miss; they register the built-in entries.
    """

    def __init__(
        self,
        name: str,
        build_func: Callable[..., Any] | None = None,
        parent: Registry | None = None,
        scope: str | None = None,
        locations: Iterable[str] | None = None,
    ) -> None:
        self._name = name
        self._module_dict: dict[str, Any] = {}
        self._children: dict[str, Registry] = {}
        self._scope = scope if scope is not None else _caller_package(2)
        self._locations = tuple(locations or ())
        self._imported = not self._locations
        self.parent: Registry | None = None
        if parent is not None:
            if not isinstance(parent, Registry):
                raise TypeError(f"parent must be a Registry, but got {type(parent).__name__}")
            parent._add_child(self)
            self.parent = parent
        if build_func is None:
            build_func = parent._build_func if parent is not None else build_from_cfg
        self._build_func = build_func

    # -- the tree ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def scope(self) -> str:
        return self._scope

    @property
    def children(self) -> dict[str, Registry]:
        return self._children

    @property
    def root(self) -> Registry:
        registry = self
        while registry.parent is not None:
            registry = registry.parent
        return registry

    @property
    def build_func(self) -> Callable[..., Any]:
        return self._build_func

    def _add_child(self, child: Registry) -> None:
        existing = self._children.get(child.scope)
        if existing is not None and existing is not child:
            raise KeyError(f"the {self._name} registry already has a child with scope "
                           f"{child.scope!r}; give the new registry another scope=")
        self._children[child.scope] = child

    def _answers_to(self, scope: str) -> bool:
        return scope == self._scope or (self.parent is None and scope in ROOT_SCOPES)

    def _search_child(self, scope: str) -> Registry | None:
        """The registry of ``scope`` in the subtree under this one (this one included), or None."""
        if self._answers_to(scope):
            return self
        for child in self._children.values():
            found = child._search_child(scope)
            if found is not None:
                return found
        return None

    @staticmethod
    def infer_scope() -> str:
        """The top-level package of the caller's module (what ``scope=None`` becomes)."""
        return _caller_package(3)

    @staticmethod
    def split_scope_key(key: str) -> tuple[str | None, str]:
        return split_scope_key(key)

    # -- inspection -------------------------------------------------------------------------
    @property
    def module_dict(self) -> dict[str, Any]:
        self.import_locations()
        return self._module_dict

    def __len__(self) -> int:
        return len(self.module_dict)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.module_dict))
        return f"Registry(name={self._name!r}, scope={self._scope!r}, items=[{names}])"

    def import_locations(self) -> None:
        """Import the modules that register this registry's built-in entries (once)."""
        if self._imported:
            return
        self._imported = True
        for location in self._locations:
            try:
                importlib.import_module(location)
            except ModuleNotFoundError as exc:  # an optional location that is not installed
                if exc.name != location:
                    raise

    def _own(self, key: str) -> Any | None:
        if key not in self._module_dict:
            self.import_locations()
        return self._module_dict.get(key)

    def get(self, key: str) -> Any | None:
        """Return the object registered under ``key``, or None.

        ``'Name'`` is looked up here, then in the parent, grandparent...; ``'scope.Name'`` in the
        registry of that scope in this tree (``scope.registry`` is imported first when the scope
        is a package that defines its registries there). A dotted path that names no scope
        (``'torch.optim.SGD'``, as json/yaml dumps write classes) is imported.
        """
        if not isinstance(key, str):
            return None
        scope, real_key = split_scope_key(key)
        if scope is None or self._answers_to(scope):
            registry: Registry | None = self
            while registry is not None:
                obj = registry._own(real_key)
                if obj is not None or scope is not None:
                    return obj
                registry = registry.parent
            return None
        target = self._scoped_registry(scope)
        if target is not None:
            return target.get(real_key)
        return _import_dotted(key)

    def _scoped_registry(self, scope: str) -> Registry | None:
        found = self._children.get(scope) or self.root._search_child(scope)
        if found is None and _import_scope_registry(scope):
            found = self.root._search_child(scope)
        return found

    def suggest(self, key: str) -> str | None:
        """The registered name closest to ``key`` (for "did you mean" hints), or None."""
        names = list(self._visible_names())
        matches = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
        if not matches:
            lowered = {k.lower(): k for k in names}
            return lowered.get(key.lower())
        return matches[0]

    def _visible_names(self) -> dict[str, None]:
        names: dict[str, None] = {}
        registry: Registry | None = self
        while registry is not None:
            names.update(dict.fromkeys(registry.module_dict))
            registry = registry.parent
        return names

    # -- registration -----------------------------------------------------------------------
    def register_module(
        self,
        name: str | list[str] | None = None,
        force: bool = False,
        module: Any = None,
    ) -> Any:
        """Register a class or function, as a decorator or as a plain call.

        ``@REG.register_module()`` registers under the class name; ``name=`` may give one name
        or a list of aliases. Registering a taken name raises unless ``force=True``.
        """
        if name is not None and not isinstance(name, (str, list)):
            raise TypeError(f"name must be None, a str or a list of str, but got {type(name).__name__}")
        if module is not None:
            self._register(module, name, force)
            return module

        def decorator(obj: Any) -> Any:
            self._register(obj, name, force)
            return obj

        return decorator

    def _register(self, obj: Any, name: str | list[str] | None, force: bool) -> None:
        if not (inspect.isclass(obj) or callable(obj)):
            raise TypeError(f"only a class or a function can be registered, but got {type(obj).__name__}")
        names = [obj.__name__] if name is None else [name] if isinstance(name, str) else name
        for key in names:
            existing = self._module_dict.get(key)
            if existing is not None and existing is not obj and not force:
                raise KeyError(f"{key!r} is already registered in the {self._name} registry "
                               f"(by {existing.__module__}.{existing.__qualname__}); "
                               "pass force=True to replace it")
            self._module_dict[key] = obj

    # -- building ---------------------------------------------------------------------------
    def build(self, cfg: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Build an object from ``cfg`` (a dict with ``type``); see :func:`build_from_cfg`."""
        return self._build_func(cfg, *args, **kwargs, registry=self)

    @contextlib.contextmanager
    def switch_scope_and_registry(self, scope: str | None) -> Generator[Registry, None, None]:
        """Within the block, ``scope`` is the default scope; yields the registry to build from.

        That is the registry of the default scope in this tree when it has one (so a root
        registry builds a downstream package's entries by their plain names), else this one.
        Unlike MMEngine, a default scope that is an ancestor of this registry (a Runner's
        ``'mmengine'``) does not hide this registry's own entries: it falls back there anyway.
        """
        from kiln.registry.default_scope import DefaultScope

        with DefaultScope.overwrite_default_scope(scope):
            current = DefaultScope.get_current_instance()
            registry = self
            if current is not None:
                found = self._scoped_registry(current.scope_name)
                if found is not None and not self._descends_from(found):
                    registry = found
            yield registry

    def _descends_from(self, other: Registry) -> bool:
        registry: Registry | None = self
        while registry is not None:
            if registry is other:
                return True
            registry = registry.parent
        return False

    def resolve(self, type_: Any, path: str = "type") -> Any:
        """Turn a ``type`` value (a registered name, a class or a function) into the object."""
        if not isinstance(type_, str):
            if inspect.isclass(type_) or callable(type_):
                return type_
            raise ConfigError(path, f"expected a registered name, a class or a function, "
                                    f"but got {type(type_).__name__} {type_!r}")
        obj = self.get(type_)
        if obj is not None:
            return obj
        scope, real_key = split_scope_key(type_)
        registry = self
        if scope is not None and not self._answers_to(scope):
            registry = self._scoped_registry(scope)
            if registry is None:
                scopes = ", ".join(sorted(self.root._scopes()))
                raise ConfigError(path, f"{type_!r}: {scope!r} is not a scope of the {self._name} "
                                        f"registry (scopes: {scopes}) nor an importable module path; "
                                        "is its package installed?")
        hint = registry.suggest(real_key)
        did_you_mean = f"; did you mean {hint!r}?" if hint else ""
        known = ", ".join(sorted(registry._visible_names())) or "nothing yet"
        where = f"the {registry.name} registry"
        if registry.parent is not None or registry.children:
            where += f" (scope {registry.scope!r})"
        raise ConfigError(path, f"{type_!r} is not registered in {where}"
                                f"{did_you_mean} (registered: {known})")

    def _scopes(self) -> list[str]:
        return [self._scope, *(s for child in self._children.values() for s in child._scopes())]


def _import_scope_registry(scope: str) -> bool:
    """Import ``<scope>.registry`` (where OpenMMLab packages define their child registries)."""
    try:
        importlib.import_module(f"{scope}.registry")
    except ImportError:
        return False
    return True


def _import_dotted(key: str) -> Any | None:
    """``'pkg.module.Name'`` → the object, or None when it does not import."""
    module_name, _, attr = key.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    obj = getattr(module, attr, None)
    return obj if inspect.isclass(obj) or callable(obj) else None
