"""``Config``: a dict with attribute access, loadable from .py/.json/.yaml files and dumpable back.

MMEngine users write configs as Python files of top-level assignments (``model = dict(...)``) and
read them as ``cfg.model.type``. kiln keeps that shape: a config is a plain ``dict`` subclass (so
``Runner(**cfg)``, ``copy.deepcopy`` and ``json`` work) whose nested dicts are ``ConfigDict``s
(the same class). Reading files is :mod:`kiln.config.loading`; the config language (``_base_``,
``{{...}}`` references, ``read_base``) is described there and in its helpers.

Example:
    >>> cfg = Config(dict(train_cfg=dict(by_epoch=True, max_epochs=5)))
    >>> cfg.train_cfg.max_epochs
    5
    >>> cfg.merge_from_dict({'train_cfg.max_epochs': 3, 'randomness.seed': 0})
    >>> cfg['train_cfg']['max_epochs'], cfg.randomness
    (3, {'seed': 0})
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.config.merge import dotted_to_nested, merge
from kiln.config.pretty import format_assignments, literal

__all__ = ["Config", "ConfigDict"]


def _wrap(value: Any) -> Any:
    """Turn plain dicts (also inside lists/tuples) into nested ``Config``s so attribute access nests."""
    if isinstance(value, Config):
        return value
    if isinstance(value, dict):
        out = Config(value)
        object.__setattr__(out, "_nested", True)
        return out
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The inverse of :func:`_wrap`: plain dicts/lists, for dumps and printing."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class Config(dict):
    """A dict with attribute access and file I/O.

    Args:
        cfg_dict: Initial content (nested dicts become ``ConfigDict`` too).
        filename: The file it was read from (``fromfile`` sets it; the Runner names the
            dumped config and the experiment after it).
    """

    def __init__(self, cfg_dict: Mapping[str, Any] | None = None, filename: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_filename", filename)
        object.__setattr__(self, "_nested", False)
        for key, value in {**dict(cfg_dict or {}), **kwargs}.items():
            self[key] = value

    # -- dict with attributes -----------------------------------------------------------------
    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
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

    def merge(self, other: Mapping[str, Any]) -> None:
        """Merge ``other`` into this dict key by key (``_delete_=True`` replaces), in place."""
        merged = merge(self, other)
        dict.clear(self)
        for key, value in merged.items():
            self[key] = value

    def copy(self) -> Config:
        return Config(dict(self), filename=self.filename)

    def __copy__(self) -> Config:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> Config:
        out = Config(filename=self.filename)
        object.__setattr__(out, "_nested", self._is_nested)
        memo[id(self)] = out
        for key, value in self.items():
            dict.__setitem__(out, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return out

    def __reduce__(self):  # pickling (spawned workers, broadcast_object) keeps the type
        return (Config, (dict(self), self.filename))

    @property
    def filename(self) -> str | None:
        return object.__getattribute__(self, "_filename")

    @property
    def _is_nested(self) -> bool:
        return object.__getattribute__(self, "_nested")

    def to_dict(self) -> dict[str, Any]:
        """A deep plain-``dict`` copy."""
        return _plain(self)

    # -- changing from the command line -------------------------------------------------------
    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Merge dotted-key options (``{'model.backbone.depth': 50, 'pipeline.0.size': 3}``).

        A number indexes a list (``allow_list_keys``); keys that do not exist yet are added (a
        key the component does not accept fails when that component is built, with did-you-mean).
        """
        merged = merge(self, dotted_to_nested(options), source="--cfg-options",
                       allow_list_keys=allow_list_keys)
        dict.clear(self)
        for key, value in merged.items():
            self[key] = value

    # -- files ----------------------------------------------------------------------------------
    @classmethod
    def fromfile(cls, filename: str | os.PathLike, use_predefined_variables: bool = True,
                 import_custom_modules: bool = True, use_environment_variables: bool = True,
                 lazy_import: bool | None = None, format_python_code: bool = True) -> Config:
        """Read a config from a ``.py``, ``.json`` or ``.yaml`` file (see :mod:`kiln.config.loading`).

        ``custom_imports`` are imported before this returns. ``lazy_import`` is accepted for
        MMEngine's signature: kiln runs pure-Python configs' imports when the file is read, so
        both styles need no flag. ``use_*_variables=False`` (leave those references literal) is
        not supported and raises, naming the keyword, rather than being silently ignored.
        """
        for name, value in (("use_predefined_variables", use_predefined_variables),
                            ("use_environment_variables", use_environment_variables)):
            if not value:
                raise ValueError(f"Config.fromfile({name}=False) is not supported by kiln: "
                                 f"{{{{...}}}} references are always resolved (drop the keyword)")
        from kiln.config.custom_imports import import_custom_modules as apply_imports
        from kiln.config.loading import load_file

        path = Path(filename)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        cfg = cls(load_file(path, wrap=Config), filename=str(path))
        if import_custom_modules and cfg.get("custom_imports") is not None:
            apply_imports(cfg["custom_imports"], f"{path}: custom_imports")
        return cfg

    @staticmethod
    def fromstring(cfg_str: str, file_format: str) -> Config:
        """Read a config from text in the format of ``file_format`` (``'.py'``, ``'.yaml'``...)."""
        import tempfile

        suffix = file_format if file_format.startswith(".") else f".{file_format}"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"config{suffix}"
            path.write_text(cfg_str, encoding="utf-8")
            cfg = Config.fromfile(path)
        object.__setattr__(cfg, "_filename", None)
        return cfg

    @property
    def pretty_text(self) -> str:
        """The config as Python assignments (``key = dict(...)`` per top-level key)."""
        return format_assignments(_plain(self))

    @property
    def text(self) -> str:
        return Path(self.filename).read_text(encoding="utf-8") if self.filename else self.pretty_text

    def dump(self, file: str | os.PathLike | None = None) -> str | None:
        """Return the config as Python text (``file=None``) or write it; the suffix picks the format.

        A ``.py`` dump imports the modules of classes given as ``type`` (so it reads back to an
        equal config); json/yaml write them as dotted names, which the registries import.
        """
        python = format_assignments(_plain(self), with_imports=True)
        if file is None:
            return python
        path = Path(file)
        suffix = path.suffix.lower()
        if suffix == ".json":
            out = json.dumps(literal(_plain(self)), indent=2)
        elif suffix in (".yaml", ".yml"):
            import yaml

            out = yaml.safe_dump(literal(_plain(self)), sort_keys=False)
        else:
            out = python
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8")
        return None

    def __repr__(self) -> str:
        if self._is_nested:
            return repr(_plain(self))
        return f"Config (path: {self.filename}): {_plain(self)!r}"

    __str__ = __repr__


ConfigDict = Config  # MMEngine's name for nested configs
