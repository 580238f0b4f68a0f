"""``load``/``dump`` by file suffix (or ``file_format=``), and the line/dict readers.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), 'cfg.json')
    >>> dump({'lr': 0.1}, path)
    >>> load(path)
    {'lr': 0.1}
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from kiln.fileio import backend
from kiln.fileio.handlers import HANDLERS, Handler

__all__ = ["load", "dump", "get_local_path", "list_from_file", "dict_from_file"]


def _handler(file: Any, file_format: str | None) -> tuple[str, Handler]:
    if file_format is None:
        if not isinstance(file, (str, Path)):
            raise ValueError("file_format must be given when file is a file object "
                             f"({type(file).__name__}); one of {sorted(HANDLERS)}")
        file_format = str(file).rsplit(".", 1)[-1] if "." in Path(str(file)).name else ""
    if file_format not in HANDLERS:
        raise TypeError(f"Unsupported format: {file_format!r} (file {file!r}); kiln.fileio reads "
                        f"{sorted(HANDLERS)}")
    return file_format, HANDLERS[file_format]


def _backend_args(file_client_args: Mapping | None, backend_args: Mapping | None) -> Mapping | None:
    if file_client_args is not None and backend_args is not None:
        raise ValueError('"file_client_args" and "backend_args" cannot be set at the same time; '
                         "use backend_args")
    return backend_args if backend_args is not None else file_client_args


def load(file: str | Path | IO, file_format: str | None = None, file_client_args: Mapping | None = None,
         backend_args: Mapping | None = None, *, allow_unsafe: bool = False, **kwargs: Any) -> Any:
    """Load a json/yaml/pickle file (a path or an open file object).

    Args:
        file: Path (format from its suffix) or a readable file object (give ``file_format``).
        file_format: 'json', 'yaml'/'yml' or 'pickle'/'pkl'.
        backend_args: Only ``None`` or ``{'backend': 'local'}``; other backends raise.
        allow_unsafe: Pickle only: unpickle arbitrary objects. Keep False unless you trust the
            file: by default only plain data loads (see :mod:`kiln.fileio.safe_pickle`).
        **kwargs: Passed to the format's loader.
    """
    _, handler = _handler(file, file_format)
    if allow_unsafe:
        if handler.binary:
            kwargs["allow_unsafe"] = True
        else:
            raise ValueError("allow_unsafe only applies to pickle files")
    args = _backend_args(file_client_args, backend_args)
    if isinstance(file, (str, Path)):
        if handler.binary:
            return handler.load(_named(io.BytesIO(backend.get(file, args)), file), **kwargs)
        return handler.load(io.StringIO(backend.get_text(file, backend_args=args)), **kwargs)
    if hasattr(file, "read"):
        return handler.load(file, **kwargs)
    raise TypeError(f'"file" must be a path or a file object, but got {type(file).__name__}')


def _named(buffer: io.BytesIO, name: Any) -> io.BytesIO:
    buffer.name = str(name)  # error messages name the file, not "<_io.BytesIO>"
    return buffer


def dump(obj: Any, file: str | Path | IO | None = None, file_format: str | None = None,
         file_client_args: Mapping | None = None, backend_args: Mapping | None = None,
         **kwargs: Any) -> str | bytes | None:
    """Write ``obj`` as json/yaml/pickle to a path or file object, or return it (``file=None``).

    json writes sets/ranges/ndarrays as lists and numpy scalars as numbers; yaml writes tuples as
    lists; pickle uses protocol 2.
    """
    if file is None and file_format is None:
        raise ValueError("file_format must be specified since file is None")
    _, handler = _handler(file, file_format)
    if file is None:
        return handler.dumps(obj, **kwargs)
    args = _backend_args(file_client_args, backend_args)
    if isinstance(file, (str, Path)):
        if handler.binary:
            backend.put(handler.dumps(obj, **kwargs), file, args)
        else:
            backend.put_text(handler.dumps(obj, **kwargs), file, backend_args=args)
        return None
    if hasattr(file, "write"):
        handler.dump(obj, file, **kwargs)
        return None
    raise TypeError(f'"file" must be a path, a file object or None, but got {type(file).__name__}')


@contextlib.contextmanager
def get_local_path(filepath: str | Path, backend_args: Mapping | None = None) -> Iterator[str]:
    """A local path to ``filepath`` for the ``with`` block (local files: the path itself)."""
    backend.check_backend(filepath, backend_args)
    yield str(filepath)


def list_from_file(filename: str | Path, prefix: str = "", offset: int = 0, max_num: int = 0,
                   encoding: str = "utf-8", backend_args: Mapping | None = None) -> list[str]:
    """The file's lines (trailing newline stripped, ``prefix`` prepended), skipping ``offset``
    lines and keeping at most ``max_num`` (``<= 0``: all)."""
    lines = backend.get_text(filename, encoding, backend_args).splitlines()[offset:]
    if max_num > 0:
        lines = lines[:max_num]
    return [prefix + line.rstrip("\n\r") for line in lines]


def dict_from_file(filename: str | Path, key_type: type = str, encoding: str = "utf-8",
                   backend_args: Mapping | None = None) -> dict[Any, Any]:
    """Whitespace-separated lines as ``{key: value}``: 2 columns → the second; more → a list."""
    mapping: dict[Any, Any] = {}
    for number, line in enumerate(backend.get_text(filename, encoding, backend_args).splitlines(), 1):
        items = line.rstrip("\n").split()
        if not items:
            continue
        if len(items) < 2:
            raise ValueError(f"{filename}:{number}: expected a key and at least one value, got {line!r}")
        mapping[key_type(items[0])] = items[1] if len(items) == 2 else items[1:]
    return mapping
