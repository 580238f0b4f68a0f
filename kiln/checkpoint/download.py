"""Download a checkpoint from an http(s) URL once, into kiln's cache directory.

The cache is ``$KILN_HOME/checkpoints`` (default ``~/.cache/kiln/checkpoints``), one file per URL
(``<sha256(url)[:16]>-<name>``). A file is written
to a temporary name in the same directory and renamed when complete, so an interrupted download
never leaves a truncated checkpoint that a later run would trust.

Example:
    >>> from kiln.checkpoint import download_checkpoint
    >>> path = download_checkpoint('https://example.com/resnet50.pth')  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from urllib.parse import urlparse

from kiln.errors import CheckpointError

__all__ = ["download_checkpoint", "checkpoint_cache_dir", "is_url"]

_CHUNK = 1 << 20
_HUB_HASH = re.compile(r"-([0-9a-fA-F]{8,64})\.[A-Za-z]+$")  # torch.hub: resnet50-0676ba61.pth


def is_url(filename: object) -> bool:
    """True for ``http://`` and ``https://`` locations (the only remote schemes kiln reads)."""
    return isinstance(filename, str) and filename.startswith(("http://", "https://"))


def checkpoint_cache_dir() -> str:
    """``$KILN_HOME/checkpoints``, or ``~/.cache/kiln/checkpoints`` when KILN_HOME is unset."""
    home = os.environ.get("KILN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "kiln")
    return os.path.join(home, "checkpoints")


def _cached_name(url: str) -> str:
    """``<sha256(url)[:16]>-<file name>``: two URLs with the same file name never share a file."""
    name = os.path.basename(urlparse(url).path)
    if not name:
        raise CheckpointError(f"cannot derive a file name from the URL {url!r}; "
                              "it should end with the checkpoint's file name (e.g. .../model.pth)")
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"


def _expected_hash(url: str, sha256: str | None) -> str | None:
    """The digest the file must have: ``sha256=`` or torch.hub's ``name-<hex prefix>.pth``."""
    if sha256:
        return sha256.lower()
    name = os.path.basename(urlparse(url).path)
    match = _HUB_HASH.search(name)
    return match.group(1).lower() if match else None


def download_checkpoint(url: str, cache_dir: str | None = None, progress: bool | None = None,
                        sha256: str | None = None) -> str:
    """Return the local path of ``url``'s file, downloading it first if it is not cached.

    The cache is keyed by the whole URL. A download is committed to the cache only once it is
    complete, is a checkpoint (a zip or pickle file, not e.g. an HTML error page served with
    status 200), and matches its expected sha256 (``sha256=``, or a torch.hub-style hash prefix
    in the file name, ``resnet50-0676ba61.pth``).

    Args:
        url: An ``http://`` or ``https://`` URL whose path ends with the file name.
        cache_dir: Where to keep the file (default :func:`checkpoint_cache_dir`).
        progress: Show a progress bar; ``None`` shows one only when stdout is a terminal, so
            logs and CI output are not filled with bar redraws.
        sha256: The file's expected sha256 (hex; a prefix is enough).

    Raises:
        CheckpointError: the server cannot be reached or answers with an error, the payload is
            not a checkpoint, or its digest differs; the message names the cache path.
    """
    cache_dir = cache_dir or checkpoint_cache_dir()
    target = os.path.join(cache_dir, _cached_name(url))
    expected = _expected_hash(url, sha256)
    if os.path.isfile(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    if progress is None:
        progress = sys.stdout.isatty()
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{os.path.basename(target)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, progress)
        _check_payload(url, tmp, target, digest, expected)
        os.replace(tmp, target)  # atomic: readers see either nothing or the whole, checked file
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target


def _check_payload(url: str, tmp: str, target: str, digest: str, expected: str | None) -> None:
    with open(tmp, "rb") as f:
        head = f.read(512)
    if not (head.startswith(b"PK") or head[:1] == b"\x80" or _is_safetensors(head)):
        shown = head[:80].decode("utf-8", "replace").strip()
        raise CheckpointError(f"{url} did not return a checkpoint (it starts with {shown!r}; an error "
                              f"page?). Nothing was cached at {target}.")
    if expected is not None and not digest.startswith(expected):
        raise CheckpointError(f"{url}: sha256 {digest[:16]}... does not match the expected {expected}; "
                              f"nothing was cached at {target}.")


def _is_safetensors(head: bytes) -> bool:
    return len(head) > 9 and head[8:9] == b"{"  # 8-byte header length, then the JSON header


def _fetch(url: str, out, progress: bool) -> str:
    """Stream ``url`` into ``out``; returns the sha256 of what was written."""
    import urllib.error
    import urllib.request

    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise CheckpointError(f"cannot download checkpoint {url}: {exc}") from exc
    sha = hashlib.sha256()
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if not progress:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                sha.update(chunk)
            return sha.hexdigest()
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
                sha.update(chunk)
                bar.update(task, advance=len(chunk))
    return sha.hexdigest()
