"""File access behind ``kiln.fileio``: the local filesystem only.

MMEngine chooses a storage backend from the path prefix or ``backend_args`` (petrel/s3, http,
memcached, lmdb). kiln reads and writes local files; any other backend is refused up front with an
error naming it, instead of a confusing "file not found" later.
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["check_backend", "get", "get_text", "put", "put_text", "exists", "isfile", "isdir",
           "join_path", "remove"]

_PREFIX_BACKENDS = {"s3": "petrel", "petrel": "petrel", "http": "http", "https": "http",
                    "memcached": "memcached", "lmdb": "lmdb"}


def check_backend(path: str | Path | None = None, backend_args: Mapping[str, Any] | None = None) -> None:
    """Raise NotImplementedError naming the backend unless ``path``/``backend_args`` mean local files."""
    if backend_args is not None:
        if not isinstance(backend_args, Mapping):
            raise TypeError(f"backend_args must be a dict or None, but got {type(backend_args).__name__}")
        backend = backend_args.get("backend", "local")
        if backend != "local":
            raise NotImplementedError(
                f"backend_args={dict(backend_args)!r}: kiln.fileio has only the 'local' backend, not "
                f"{backend!r}; copy the file locally (or mount the bucket) and pass its path")
    if isinstance(path, str) and "://" in path:
        prefix = path.split("://", 1)[0]
        if prefix != "file":
            backend = _PREFIX_BACKENDS.get(prefix, prefix)
            raise NotImplementedError(
                f"{path!r} needs the {backend!r} backend, which kiln.fileio does not provide (only "
                "local files); copy the file locally and pass its path")


def _local(path: str | Path, backend_args: Mapping[str, Any] | None) -> str:
    check_backend(path, backend_args)
    path = str(path)
    return path[len("file://"):] if path.startswith("file://") else path


def get(filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> bytes:
    """The file's bytes."""
    with open(_local(filepath, backend_args), "rb") as f:
        return f.read()


def get_text(filepath: str | Path, encoding: str = "utf-8",
             backend_args: Mapping[str, Any] | None = None) -> str:
    """The file's text."""
    with open(_local(filepath, backend_args), encoding=encoding) as f:
        return f.read()


def put(obj: bytes, filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> None:
    """Write bytes (parent directories are created)."""
    path = _local(filepath, backend_args)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(obj)


def put_text(obj: str, filepath: str | Path, encoding: str = "utf-8",
             backend_args: Mapping[str, Any] | None = None) -> None:
    """Write text (parent directories are created)."""
    path = _local(filepath, backend_args)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, "w", encoding=encoding) as f:
        f.write(obj)


def exists(filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> bool:
    return osp.exists(_local(filepath, backend_args))


def isfile(filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> bool:
    return osp.isfile(_local(filepath, backend_args))


def isdir(filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> bool:
    return osp.isdir(_local(filepath, backend_args))


def remove(filepath: str | Path, backend_args: Mapping[str, Any] | None = None) -> None:
    os.remove(_local(filepath, backend_args))


def join_path(filepath: str | Path, *filepaths: str | Path,
              backend_args: Mapping[str, Any] | None = None) -> str:
    """``os.path.join`` for local paths."""
    return osp.join(_local(filepath, backend_args), *map(str, filepaths))
