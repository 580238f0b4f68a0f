"""Text substitution in config files, done before a file is parsed (as MMEngine does).

Three kinds of ``{{ ... }}`` references:

* predefined variables of the file itself: ``{{fileDirname}}``, ``{{fileBasename}}``,
  ``{{fileBasenameNoExtension}}``, ``{{fileExtname}}``;
* environment variables: ``{{$DATA_ROOT:/data}}`` (the default after ``:`` is optional);
* values of the base configs: ``{{_base_.model.backbone}}``. Those are not known while the file is
  parsed, so each is replaced by a placeholder string that :func:`resolve_base_refs` swaps for the
  value once the bases are merged. That is how ``a = {{_base_.model}}`` is valid Python.

A reference that names nothing is an error naming the file and the reference (with did-you-mean),
never left in the text.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.errors import ConfigError

__all__ = ["substitute_text", "resolve_base_refs", "BaseRefs"]

PREDEFINED = ("fileDirname", "fileBasename", "fileBasenameNoExtension", "fileExtname")
_REF = re.compile(r"""(['"]?)\{\{\s*([^{}]*?)\s*\}\}(['"]?)""")
_BASE = re.compile(r"_base_\.([\w.]+)$")
_ENV = re.compile(r"\$(\w+)\s*(?::\s*(.*))?$")
_NAME = re.compile(r"[\w$.:/\-]+$")

BaseRefs = dict[str, str]  # placeholder -> dotted key in the merged base config


def _predefined(path: Path) -> dict[str, str]:
    path = path.resolve()
    return {
        "fileDirname": str(path.parent),
        "fileBasename": path.name,
        "fileBasenameNoExtension": path.stem,
        "fileExtname": path.suffix,
    }


def substitute_text(text: str, path: Path) -> tuple[str, BaseRefs]:
    """Replace every ``{{...}}`` of ``text`` (the content of config file ``path``).

    Returns the new text and the placeholders it holds for ``_base_`` references.
    """
    values = _predefined(path)
    refs: BaseRefs = {}

    def replace(match: re.Match) -> str:
        left, body, right = match.groups()
        if body in values:
            return f"{left}{values[body]}{right}"
        env = _ENV.match(body)
        if env:
            return f"{left}{_env_value(env.group(1), env.group(2), path)}{right}"
        base = _BASE.match(body)
        if base:
            token = f"_kiln_base_ref_{len(refs)}_"
            refs[token] = base.group(1)
            if left == right:  # a whole value (quoted or not): the value itself
                return f'"{token}"'
            return f"{left}{token}{right}"  # inside a longer string: its text
        if not _NAME.match(body):  # e.g. a literal '{{ }}' in a format string: leave it
            return match.group(0)
        close = difflib.get_close_matches(body, PREDEFINED, n=1)
        hint = f" (did you mean {{{{{close[0]}}}}}?)" if close else ""
        raise ConfigError(f"{path}", f"unknown reference {{{{{body}}}}}{hint}; expected one of "
                                     f"{', '.join('{{' + p + '}}' for p in PREDEFINED)}, "
                                     "{{$ENV_VAR:default}} or {{_base_.key}}")

    return _REF.sub(replace, text), refs


def _env_value(name: str, default: str | None, path: Path) -> str:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default:
        return default
    raise ConfigError(f"{path}", f"{{{{${name}}}}} refers to the environment variable {name}, "
                                 "which is not set, and gives no default ({{$NAME:default}})")


def _lookup(base: Any, dotted: str, path: Path) -> Any:
    value, walked = base, "_base_"
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            keys = list(value) if isinstance(value, Mapping) else []
            close = difflib.get_close_matches(part, keys, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            has = f" (it has: {', '.join(map(str, keys))})" if keys else ""
            raise ConfigError(f"{path}", f"{{{{_base_.{dotted}}}}}: {walked} has no key "
                                         f"{part!r}{hint}{has}")
        walked += f".{part}"
    return value


def resolve_base_refs(content: Any, refs: BaseRefs, base: Mapping[str, Any], path: Path) -> Any:
    """Swap the placeholders left by :func:`substitute_text` for the base config's values."""
    if not refs:
        return content
    values = {token: _lookup(base, dotted, path) for token, dotted in refs.items()}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if value in values:
                return copy.deepcopy(values[value])
            for token, sub in values.items():
                if token in value:
                    value = value.replace(token, str(sub))
            return value
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, tuple):
            return tuple(walk(v) for v in value)
        return value

    return walk(content)
