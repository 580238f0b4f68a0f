"""``DictAction``: argparse ``--cfg-options key=value ...`` with MMEngine's value syntax.

==================  =========================
``key=1``           ``1`` (int; ``1.5`` float)
``key=True``        ``True`` (``true``/``false`` too)
``key=None``        ``None``
``key=a,b``         ``['a', 'b']``
``key=[1,2]``       ``[1, 2]``
``key="(a,b)"``     ``('a', 'b')``
``key=[(1,2),[a]]`` ``[(1, 2), ['a']]``
==================  =========================

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    >>> parser.parse_args(['--cfg-options', 'a.b=1', 'c=[1,2]']).cfg_options
    {'a.b': 1, 'c': [1, 2]}
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DictAction", "parse_value"]

_BRACKETS = {"(": ")", "[": "]"}


def _scalar(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_value(text: str) -> Any:
    """One ``--cfg-options`` value (see the module docstring for the syntax)."""
    text = text.strip().strip("'\"").strip()
    is_tuple = False
    if len(text) >= 2 and text[0] in _BRACKETS and text[-1] == _BRACKETS[text[0]]:
        is_tuple = text[0] == "("
        text = text[1:-1].strip()
        if not text:
            return () if is_tuple else []
    elif "," not in text:
        return _scalar(text)
    values = [parse_value(part) for part in _split_top_level(text) if part.strip()]
    return tuple(values) if is_tuple else values


class DictAction(argparse.Action):
    """Collect ``KEY=VALUE`` arguments into a dict (later ones win), values parsed as above."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in [values] if isinstance(values, str) else (values or []):
            key, sep, value = item.partition("=")
            if not sep or not key:
                parser.error(f"{option_string or self.dest}: expected KEY=VALUE, but got {item!r}")
            options[key] = parse_value(value)
        setattr(namespace, self.dest, options)
