"""Path helpers downstream code imports from ``mmengine.utils``."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterator
from pathlib import Path

__all__ = ["mkdir_or_exist", "is_filepath", "check_file_exist", "scandir"]


def mkdir_or_exist(dir_name: str | Path, mode: int = 0o777) -> None:
    """Create ``dir_name`` (and parents) unless it exists; ``''`` is a no-op, ``~`` is expanded."""
    if dir_name == "":
        return
    os.makedirs(osp.expanduser(str(dir_name)), mode=mode, exist_ok=True)


def is_filepath(x: object) -> bool:
    return isinstance(x, (str, Path))


def check_file_exist(filename: str | Path, msg_tmpl: str = 'file "{}" does not exist') -> None:
    if not osp.isfile(filename):
        raise FileNotFoundError(msg_tmpl.format(filename))


def scandir(dir_path: str | Path, suffix: str | tuple[str, ...] | None = None,
            recursive: bool = False, case_sensitive: bool = True) -> Iterator[str]:
    """Relative paths of the files under ``dir_path`` (optionally only those ending in ``suffix``)."""
    if not isinstance(dir_path, (str, Path)):
        raise TypeError(f'"dir_path" must be a string or Path object, but got {dir_path!r}')
    if suffix is not None and not isinstance(suffix, (str, tuple)):
        raise TypeError(f'"suffix" must be a string or tuple of strings, but got {suffix!r}')
    if suffix is not None and not case_sensitive:
        suffix = suffix.lower() if isinstance(suffix, str) else tuple(s.lower() for s in suffix)
    root = str(dir_path)

    def walk(path: str) -> Iterator[str]:
        for entry in os.scandir(path):
            if entry.is_file() and not entry.name.startswith("."):
                rel = osp.relpath(entry.path, root)
                name = rel if case_sensitive else rel.lower()
                if suffix is None or name.endswith(suffix):
                    yield rel
            elif recursive and entry.is_dir():
                yield from walk(entry.path)

    return walk(root)
