"""Merging configs key by key: a child file into its bases, ``--cfg-options`` into a config.

MMEngine's rules: nested dicts merge; ``_delete_=True`` in a child dict replaces the base dict
instead; a child dict over a base value that is not a dict is an error (say ``_delete_=True``);
``merge_from_dict`` keys are dotted paths (``'model.backbone.depth'``), and a number indexes a
list (``'train_pipeline.0.scale'``); new keys are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError

__all__ = ["merge", "strip_delete", "dotted_to_nested", "DELETE_KEY"]

DELETE_KEY = "_delete_"


def strip_delete(value: Any) -> Any:
    """``value`` without any ``_delete_`` keys (they only steer a merge)."""
    if isinstance(value, Mapping):
        return {k: strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [strip_delete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(strip_delete(v) for v in value)
    return value


def merge(base: Any, override: Mapping[str, Any], where: str = "", source: str = "",
          allow_list_keys: bool = False) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base`` (a dict, or a list when ``allow_list_keys``).

    ``where`` is the dotted path of ``base`` (for errors); ``source`` names the file or option
    the override came from.
    """
    if isinstance(base, list) and allow_list_keys:
        return _merge_into_list(base, override, where, source)
    out = dict(base)
    for key, value in override.items():
        if key == DELETE_KEY:
            continue
        path = f"{where}.{key}" if where else str(key)
        current = out.get(key)
        if isinstance(value, Mapping) and not value.get(DELETE_KEY, False) and key in out \
                and current is not None:
            if isinstance(current, Mapping) or (allow_list_keys and isinstance(current, list)):
                out[key] = merge(current, value, path, source, allow_list_keys)
                continue
            raise ConfigError(f"{source}: {path}" if source else path,
                              f"is a dict here but {type(current).__name__} {current!r} in the "
                              f"base config, so it cannot be merged into it; add "
                              f"{DELETE_KEY}=True to replace the base value")
        out[key] = strip_delete(value)
    return out


def _merge_into_list(base: list, override: Mapping[str, Any], where: str, source: str) -> list:
    out = list(base)
    for key, value in override.items():
        path = f"{where}.{key}"
        if not (isinstance(key, str) and key.isdigit()):
            raise ConfigError(path, f"{where} is a list, so the next key must be an index, "
                                    f"but got {key!r}")
        index = int(key)
        if index >= len(out):
            raise ConfigError(path, f"index {index} is out of range: {where} has {len(out)} items")
        current = out[index]
        if isinstance(value, Mapping) and isinstance(current, (Mapping, list)) \
                and not value.get(DELETE_KEY, False):
            out[index] = merge(current, value, path, source, allow_list_keys=True)
        else:
            out[index] = strip_delete(value)
    return out


def dotted_to_nested(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{'a.b.c': 1, 'a.d': 2}`` → ``{'a': {'b': {'c': 1}, 'd': 2}}``."""
    nested: dict[str, Any] = {}
    for full_key, value in options.items():
        node = nested
        *parents, last = str(full_key).split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(full_key, f"{part!r} is set to a value and also used as a "
                                            "parent key in the same options")
            node = child
        node[last] = value
    return nested
