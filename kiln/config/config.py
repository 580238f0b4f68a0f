"""``Config``: a dict with attribute access, loadable from .py/.json/.yaml files and dumpable back.

MMEngine users write configs as Python files of top-level assignments (``model = dict(...)``) and
read them as ``cfg.model.type``. kiln keeps that shape without MMEngine's 1900-line machinery:
a config is a plain ``dict`` subclass (so ``Runner(**cfg)``, ``copy.deepcopy`` and ``json`` work)
whose nested dicts are ``Config``s too.

Example:
    >>> cfg = Config(dict(train_cfg=dict(by_epoch=True, max_epochs=5)))
    >>> cfg.train_cfg.max_epochs
    5
    >>> cfg.train_cfg.max_epochs = 3
    >>> cfg['train_cfg']['max_epochs']
    3
"""

from __future__ import annotations

import json
import os
import pprint
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Config", "ConfigDict"]

_PY_SUFFIXES = (".py",)
_JSON_SUFFIXES = (".json",)
_YAML_SUFFIXES = (".yaml", ".yml")


def _wrap(value: Any) -> Any:
    """Turn plain dicts (also inside lists/tuples) into ``Config`` so attribute access nests."""
    if isinstance(value, Config):
        return value
    if isinstance(value, dict):
        return Config(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The inverse of :func:`_wrap`: plain dicts/lists, for json/yaml dumps."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _literal(value: Any) -> Any:
    """A version of ``value`` whose ``repr`` is valid Python (classes become dotted-name strings)."""
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_literal(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type) or callable(value):
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", getattr(value, "__name__", repr(value)))
        return f"{module}.{name}" if module else name
    return repr(value)


class Config(dict):
    """A dict with attribute access and file I/O.

    Args:
        cfg_dict: Initial content (nested dicts become ``Config`` too).
        filename: The file it was read from (``fromfile`` sets it; the Runner names the
            dumped config and the experiment after it).
    """

    def __init__(self, cfg_dict: Mapping[str, Any] | None = None, filename: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_filename", filename)
        for key, value in {**dict(cfg_dict or {}), **kwargs}.items():
            self[key] = value

    # -- dict with attributes -----------------------------------------------------------------
    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def copy(self) -> Config:
        return Config(dict(self), filename=self.filename)

    def __deepcopy__(self, memo: dict) -> Config:
        import copy

        out = Config(filename=self.filename)
        memo[id(self)] = out
        for key, value in self.items():
            dict.__setitem__(out, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return out

    def __reduce__(self):  # pickling (spawned workers, broadcast_object) keeps the type
        return (Config, (dict(self), self.filename))

    @property
    def filename(self) -> str | None:
        return object.__getattribute__(self, "_filename")

    def to_dict(self) -> dict[str, Any]:
        """A deep plain-``dict`` copy."""
        return _plain(self)

    # -- files ----------------------------------------------------------------------------------
    @classmethod
    def fromfile(cls, filename: str | os.PathLike) -> Config:
        """Read a config from a ``.py`` (top-level names), ``.json`` or ``.yaml`` file.

        In a Python config, names starting with ``_`` and imported modules are left out; a
        ``_base_`` file (or list of files, relative to this one) is read first and this file's
        dicts are merged into it key by key.
        """
        path = Path(filename)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix in _PY_SUFFIXES:
            content = _read_python(path)
        elif suffix in _JSON_SUFFIXES:
            content = json.loads(path.read_text(encoding="utf-8"))
        elif suffix in _YAML_SUFFIXES:
            import yaml

            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        else:
            raise ValueError(f"config file {str(path)!r}: unsupported suffix {suffix!r}; "
                             "expected .py, .json, .yaml or .yml")
        if not isinstance(content, dict):
            raise ValueError(f"config file {str(path)!r} must hold a mapping at the top level, "
                             f"but holds {type(content).__name__}")
        bases = content.pop("_base_", None)
        if bases is not None:
            merged: dict[str, Any] = {}
            for base in [bases] if isinstance(bases, str) else bases:
                merged = _merge(merged, cls.fromfile(path.parent / base).to_dict())
            content = _merge(merged, content)
        return cls(content, filename=str(path))

    @property
    def pretty_text(self) -> str:
        """The config as Python assignments (``key = value`` per top-level key)."""
        lines = []
        for key, value in self.items():
            text = pprint.pformat(_literal(_plain(value)), indent=1, width=100, sort_dicts=False)
            lines.append(f"{key} = {text}")
        return "\n".join(lines) + ("\n" if lines else "")

    def dump(self, file: str | os.PathLike | None = None) -> str | None:
        """Return the config as text (``file=None``) or write it; the suffix picks the format.

        Classes and functions given as ``type`` are written as dotted-name strings, so the dumped
        file is always parseable.
        """
        if file is None:
            return self.pretty_text
        path = Path(file)
        suffix = path.suffix.lower()
        if suffix in _JSON_SUFFIXES:
            text = json.dumps(_literal(_plain(self)), indent=2)
        elif suffix in _YAML_SUFFIXES:
            import yaml

            text = yaml.safe_dump(_literal(_plain(self)), sort_keys=False)
        else:
            text = self.pretty_text
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return None

    def __repr__(self) -> str:
        return f"Config (path: {self.filename}): {dict.__repr__(self)}"


ConfigDict = Config  # MMEngine's name for nested configs


def _read_python(path: Path) -> dict[str, Any]:
    import types

    namespace = runpy.run_path(str(path))
    return {k: v for k, v in namespace.items()
            if not k.startswith("__") and (not k.startswith("_") or k == "_base_")
            and not isinstance(v, types.ModuleType)}


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested dicts merge unless ``_delete_=True``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            value = dict(value)
            if value.pop("_delete_", False):
                out[key] = value
            else:
                out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out
