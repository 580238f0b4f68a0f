"""Reading a config file: parse it, read its ``_base_`` files, merge, resolve references.

One function per step, in the order MMEngine documents: substitute ``{{...}}`` in the text
(:mod:`kiln.config.substitution`), parse (.py runs through :mod:`kiln.config.python_config`; .json;
.yaml), read the ``_base_`` files (str or list, relative to this file, or ``'pkg::path'``),
refuse a key set by two bases and a ``_base_`` cycle (naming the chain), swap ``{{_base_.x}}``
placeholders for values, then merge this file into its bases key by key.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.config.merge import merge
from kiln.config.python_config import exec_python_config
from kiln.config.substitution import resolve_base_refs, substitute_text
from kiln.errors import ConfigError

__all__ = ["load_file", "SUFFIXES"]

SUFFIXES = (".py", ".json", ".yaml", ".yml")


def load_file(path: Path, chain: tuple[Path, ...] = (), wrap: Any = dict) -> dict[str, Any]:
    """The content of config file ``path`` merged into its bases (plain dicts).

    ``wrap`` (``Config``) wraps what a pure-Python config imports from a base, so that it can
    write ``model.depth = 50``; passed in, because this module sits below ``kiln.config.config``.
    """
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(resolved):], resolved))
        raise ConfigError(str(path), f"_base_ cycle: {cycle}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(str(path), f"unsupported suffix {suffix!r}; expected .py, .json, .yaml or .yml")
    text, refs = substitute_text(path.read_text(encoding="utf-8"), path)
    chain = (*chain, resolved)
    content = _parse(text, path, suffix, lambda base: wrap(load_file(base, chain, wrap)))
    bases = content.pop("_base_", None)
    base_cfg = _read_bases(bases, path, chain, wrap) if bases is not None else {}
    content = resolve_base_refs(content, refs, base_cfg, path)
    return merge(base_cfg, content, source=str(path))


def _parse(text: str, path: Path, suffix: str, load) -> dict[str, Any]:
    if suffix == ".py":
        content = exec_python_config(text, path, load)
    elif suffix == ".json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from exc
    else:
        import yaml

        try:
            content = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else "?"
            raise ConfigError(f"{path}:{line}", f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(content, Mapping):
        raise ConfigError(str(path), f"a config file must hold a mapping at the top level, "
                                     f"but holds {type(content).__name__}")
    return dict(content)


def _base_path(base: Any, path: Path) -> Path:
    if not isinstance(base, str):
        raise ConfigError(f"{path}: _base_", f"expected a file name or a list of them, but got {base!r}")
    if "::" in base:  # 'mmdet::_base_/models/x.py': a file in an installed package's configs
        package, _, rel = base.partition("::")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"{path}: _base_", f"{base!r}: package {package!r} is not installed")
        root = Path(list(spec.submodule_search_locations)[0])
        for candidate in (root / "configs" / rel, root / ".mim" / "configs" / rel, root / rel):
            if candidate.is_file():
                return candidate
        return root / "configs" / rel
    return path.parent / base


def _read_bases(bases: Any, path: Path, chain: tuple[Path, ...], wrap: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for base in [bases] if isinstance(bases, str) else list(bases):
        base_path = _base_path(base, path)
        if not base_path.is_file():
            raise ConfigError(f"{path}: _base_", f"{base!r}: no such file {base_path}")
        content = load_file(base_path, chain, wrap)
        twice = sorted(set(content) & set(merged))
        if twice:
            raise ConfigError(f"{path}: _base_", f"key(s) {twice} are set by both "
                                                 f"{owner[twice[0]]!r} and {base!r}; a key may "
                                                 "come from one base only")
        owner.update(dict.fromkeys(content, base))
        merged.update(content)
    return merged
