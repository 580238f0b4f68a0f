"""Registries: map the ``type`` string of a config dict to the class or function that builds it.

Every configurable component (models, weight initializers, optimizers, hooks, loops, metrics ...)
is looked up here, so that ``dict(type='Kaiming', a=0)`` becomes ``KaimingInit(a=0)``. A registry
may name the modules that register into it (``locations``); they are imported on the first miss,
which keeps ``import kiln`` cheap while ``build(dict(type='Kaiming'))`` still works before anyone
imported ``kiln.model``.

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

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kiln.errors import ConfigError

__all__ = ["Registry", "build_from_cfg", "check_arguments"]


class Registry:
    """A name → class (or function) table with config-driven ``build``.

    Args:
        name: Human-readable name used in error messages (``'weight initializer'``).
        build_func: Optional replacement for :func:`build_from_cfg`.
        locations: Modules imported on the first lookup miss; they register the built-in entries.
    """

    def __init__(
        self,
        name: str,
        build_func: Callable[..., Any] | None = None,
        locations: Iterable[str] = (),
    ) -> None:
        self._name = name
        self._module_dict: dict[str, Any] = {}
        self._build_func = build_func or build_from_cfg
        self._locations = tuple(locations)
        self._imported = not self._locations

    # -- inspection -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

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
        return f"Registry(name={self._name!r}, items=[{names}])"

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

    def get(self, key: str) -> Any | None:
        """Return the object registered under ``key``, or None."""
        if not isinstance(key, str):
            return None
        if key not in self._module_dict:
            self.import_locations()
        return self._module_dict.get(key)

    def suggest(self, key: str) -> str | None:
        """The registered name closest to ``key`` (for "did you mean" hints), or None."""
        matches = difflib.get_close_matches(key, list(self.module_dict), n=1, cutoff=0.5)
        if not matches:
            lowered = {k.lower(): k for k in self.module_dict}
            return lowered.get(key.lower())
        return matches[0]

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
        return self._build_func(cfg, self, *args, **kwargs)

    def resolve(self, type_: Any, path: str = "type") -> Any:
        """Turn a ``type`` value (a registered name, a class or a function) into the object."""
        if not isinstance(type_, str):
            if inspect.isclass(type_) or callable(type_):
                return type_
            raise ConfigError(path, f"expected a registered name, a class or a function, "
                                    f"but got {type(type_).__name__} {type_!r}")
        obj = self.get(type_)
        if obj is None:
            hint = self.suggest(type_)
            did_you_mean = f"; did you mean {hint!r}?" if hint else ""
            known = ", ".join(sorted(self.module_dict)) or "nothing yet"
            raise ConfigError(path, f"{type_!r} is not registered in the {self._name} registry"
                                    f"{did_you_mean} (registered: {known})")
        return obj


def check_arguments(obj: Any, kwargs: Mapping[str, Any], path: str, skip: int = 0) -> None:
    """Raise a :class:`ConfigError` naming ``path`` if ``obj`` cannot accept ``kwargs``.

    Checks the signature up front, so that a typo'd argument is reported before anything is built.
    ``skip`` positional parameters are filled by the caller (e.g. ``params`` of an optimizer).
    """
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    params = list(signature.parameters.values())
    if inspect.isclass(obj) and params and params[0].name == "self":
        params = params[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = {p.name for p in params[skip:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        name = getattr(obj, "__name__", repr(obj))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(path, f"{name} got unexpected argument(s) {', '.join(hints)}; "
                                f"it accepts: {', '.join(sorted(accepted)) or 'no arguments'}")
    missing = [p.name for p in params[skip:]
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in kwargs]
    if missing:
        name = getattr(obj, "__name__", repr(obj))
        raise ConfigError(path, f"{name} is missing required argument(s): {', '.join(missing)}")


def build_from_cfg(
    cfg: Mapping[str, Any],
    registry: Registry,
    default_args: Mapping[str, Any] | None = None,
    path: str = "",
) -> Any:
    """Build ``registry``'s entry named by ``cfg['type']`` with the remaining keys as arguments.

    ``type`` may be a registered name or the class/function itself. ``default_args`` fill keys the
    cfg does not set. Errors are :class:`kiln.errors.ConfigError` naming ``path`` (the config path
    of ``cfg``, e.g. ``'init_cfg[0]'``) and what was expected.
    """
    where = f"{path}." if path else ""
    if not isinstance(cfg, Mapping):
        raise ConfigError(path or "cfg", f"expected a dict with a 'type' key, but got {type(cfg).__name__}")
    args = dict(cfg)
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    if "type" not in args:
        raise ConfigError(path or "cfg", f"the dict must contain the key 'type' ({registry.name}), "
                                         f"but got keys {sorted(args)}")
    obj = registry.resolve(args.pop("type"), f"{where}type")
    check_arguments(obj, args, path or "cfg")
    return obj(**args)
