"""``build_from_cfg`` and ``check_arguments``: build a registry entry, checking its arguments first.

A typo'd argument must fail before anything is built, naming the config path, with a
did-you-mean — also for classes that take ``**kwargs``: a class that forwards them to another
callable says so with a ``__kwargs_forwarded_to__`` attribute (e.g. kiln's DDP wrapper forwards
to ``torch.nn.parallel.DistributedDataParallel``), and the keys are checked against that one.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kiln.errors import ConfigError

if TYPE_CHECKING:
    from kiln.registry.registry import Registry

__all__ = ["build_from_cfg", "check_arguments", "unexpected_arguments", "reject_unknown_kwargs"]


def _parameters(obj: Any) -> list[inspect.Parameter] | None:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return None
    if inspect.isclass(obj) and params and params[0].name == "self":
        params = params[1:]
    return params


def _named(params: Iterable[inspect.Parameter]) -> list[str]:
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def unexpected_arguments(obj: Any, unknown: Iterable[str], accepted: Iterable[str], path: str) -> ConfigError:
    """The error for keywords that no code reads: each named, with the closest accepted name."""
    accepted = sorted(set(accepted))
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, accepted, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    name = getattr(obj, "__name__", repr(obj))
    return ConfigError(path, f"{name} got unexpected argument(s) {', '.join(hints)}; "
                             f"it accepts: {', '.join(accepted) or 'no arguments'}")


def reject_unknown_kwargs(cls: type, kwargs: Mapping[str, Any], path: str) -> None:
    """For a class whose ``**kwargs`` reach no code: any key in them is a typo, so raise."""
    if kwargs:
        raise unexpected_arguments(cls, kwargs, _named(_parameters(cls) or []), path)


def check_arguments(obj: Any, kwargs: Mapping[str, Any], path: str, skip: int = 0) -> None:
    """Raise a :class:`ConfigError` naming ``path`` if ``obj`` cannot accept ``kwargs``.

    Checks the signature up front, so that a typo'd argument is reported before anything is built.
    ``skip`` positional parameters are filled by the caller (e.g. ``params`` of an optimizer).
    Keys that land in ``**kwargs`` are checked against ``obj.__kwargs_forwarded_to__`` when the
    class declares where it forwards them.
    """
    params = _parameters(obj)
    if params is None:
        return
    accepted = _named(params[skip:])
    if any(p.kind is p.VAR_KEYWORD for p in params):
        target = getattr(obj, "__kwargs_forwarded_to__", None)
        if target is None:
            return
        forwarded = _parameters(target)
        if forwarded is None or any(p.kind is p.VAR_KEYWORD for p in forwarded):
            return
        accepted += _named(forwarded)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise unexpected_arguments(obj, unknown, accepted, path)
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

    ``type`` may be a registered name (``'ResNet'``, or scoped ``'mmdet.ResNet'``) or the
    class/function itself. A plain name is looked up from the registry of the default scope
    (``_scope_`` in the cfg, else :class:`~kiln.registry.DefaultScope`), falling back to parents.
    ``default_args`` fill keys the cfg does not set. Errors are :class:`kiln.errors.ConfigError`
    naming ``path`` (the config path of ``cfg``, e.g. ``'init_cfg[0]'``) and what was expected.
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
    scope = args.pop("_scope_", None)
    with registry.switch_scope_and_registry(scope) as scoped:
        obj = scoped.resolve(args.pop("type"), f"{where}type")
        check_arguments(obj, args, path or "cfg")
        return obj(**args)
