"""Download a checkpoint from an http(s) URL once, into kiln's cache directory.

The cache is ``$KILN_HOME/checkpoints`` (default ``~/.cache/kiln/checkpoints``). A file is written
to a temporary name in the same directory and renamed when complete, so an interrupted download
never leaves a truncated checkpoint that a later run would trust.

Example:
    >>> from kiln.checkpoint import download_checkpoint
    >>> path = download_checkpoint('https://example.com/resnet50.pth')  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import tempfile
from urllib.parse import urlparse

from kiln.errors import CheckpointError

__all__ = ["download_checkpoint", "checkpoint_cache_dir", "is_url"]

_CHUNK = 1 << 20


def is_url(filename: object) -> bool:
    """True for ``http://`` and ``https://`` locations (the only remote schemes kiln reads)."""
    return isinstance(filename, str) and filename.startswith(("http://", "https://"))


def checkpoint_cache_dir() -> str:
    """``$KILN_HOME/checkpoints``, or ``~/.cache/kiln/checkpoints`` when KILN_HOME is unset."""
    home = os.environ.get("KILN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
    return os.path.join(home, "checkpoints")


def _cached_name(url: str) -> str:
    name = os.path.basename(urlparse(url).path)
    if not name:
        raise CheckpointError(f"cannot derive a file name from the URL {url!r}; "
                              "it should end with the checkpoint's file name (e.g. .../model.pth)")
    return name


def download_checkpoint(url: str, cache_dir: str | None = None, progress: bool | None = None) -> str:
    """Return the local path of ``url``'s file, downloading it first if it is not cached.

    Args:
        url: An ``http://`` or ``https://`` URL whose path ends with the file name.
        cache_dir: Where to keep the file (default :func:`checkpoint_cache_dir`).
        progress: Show a progress bar; ``None`` shows one only when stdout is a terminal, so
            logs and CI output are not filled with bar redraws.

    Raises:
        CheckpointError: the server cannot be reached or answers with an error.
    """
    cache_dir = cache_dir or checkpoint_cache_dir()
    target = os.path.join(cache_dir, _cached_name(url))
    if os.path.isfile(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    if progress is None:
        progress = sys.stdout.isatty()
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{os.path.basename(target)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, progress)
        os.replace(tmp, target)  # atomic: readers see either nothing or the whole file
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target


def _fetch(url: str, out, progress: bool) -> None:
    import urllib.error
    import urllib.request

    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise CheckpointError(f"cannot download checkpoint {url}: {exc}") from exc
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if not progress:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn())
        with Progress(*columns) as bar:
            task = bar.add_task(f"downloading {os.path.basename(urlparse(url).path)}", total=total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(task, advance=len(chunk))
