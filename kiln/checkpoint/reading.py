"""Read a kiln or MMEngine checkpoint file safely, with an actionable error when it is broken.

The one place resume, ``load_from`` and ``CheckpointHook`` (publishing) read whole checkpoints:
it goes through the shared loader (``torch.load(weights_only=True)``) with MMEngine's pickled
classes mapped to inert stand-ins, and a truncated or corrupt file names the previous
checkpoint to resume from instead.
"""

from __future__ import annotations

import concurrent.futures
import glob
import hashlib
import os
import re
from typing import Any

from kiln.checkpoint.loading import load_checkpoint_file
from kiln.checkpoint.saving import digest_path
from kiln.errors import CheckpointError

__all__ = ["read_checkpoint", "find_previous_checkpoint", "verify_digest", "find_checkpoints", "is_dcp_checkpoint"]


def read_checkpoint(filename: str, map_location: Any = "cpu", verify: bool | None = None) -> dict[str, Any]:
    """Read a kiln or MMEngine checkpoint safely (no arbitrary unpickling), verifying its digest.

    Args:
        filename: The checkpoint.
        map_location: Passed to ``torch.load``.
        verify: Check the file against its ``<file>.sha256`` sidecar (written by kiln's saves)
            before loading it. None: yes, unless the environment sets ``KILN_VERIFY_CHECKPOINTS=0``
            (for huge files, where the extra read costs too long). A file without a sidecar
            (MMEngine's, downloaded, older kiln) loads unverified.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointError: It is truncated/corrupt or does not match its digest; the message
            suggests the previous checkpoint in the same directory, if there is one.
    """
    try:
        if verify if verify is not None else os.environ.get("KILN_VERIFY_CHECKPOINTS", "1") != "0":
            checkpoint = _load_verified(filename, map_location)
        else:
            checkpoint = load_checkpoint_file(filename, map_location)  # reads MMEngine files inertly too
    except CheckpointError as exc:
        previous = find_previous_checkpoint(filename)
        hint = (f" Resume from the previous checkpoint instead: {previous}" if previous
                else " No other checkpoint was found next to it.")
        raise CheckpointError(f"{exc}.{hint}") from exc
    return checkpoint


def _load_verified(filename: str, map_location: Any) -> dict[str, Any]:
    """Load and hash at the same time; the checkpoint is returned only once its digest matched.

    hashlib releases the GIL on large buffers, so the sha256 pass runs on the second core while
    ``torch.load`` parses (both read the file; the second read comes from the page cache). Loading
    bytes that later fail the check is harmless: the loader is ``weights_only`` and the result is
    dropped. A digest error wins over a load error (it names the real cause).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(verify_digest, filename)
        try:
            checkpoint = load_checkpoint_file(filename, map_location)  # reads MMEngine files inertly
        except Exception:
            check.result()  # raises the digest error if there is one
            raise
        check.result()
    return checkpoint


def verify_digest(filename: str) -> bool:
    """Compare ``filename`` with its ``.sha256`` sidecar; False when there is none to compare with.

    Raises:
        CheckpointError: the file's sha256 differs from the one recorded when it was saved.
    """
    sidecar = digest_path(filename)
    if not os.path.isfile(sidecar) or not os.path.isfile(filename):
        return False
    with open(sidecar, encoding="utf-8") as f:
        expected = f.read().split()[0] if os.path.getsize(sidecar) else ""
    sha = hashlib.sha256()
    with open(filename, "rb") as f:
        while chunk := f.read(1 << 22):
            sha.update(chunk)
    if sha.hexdigest() != expected:
        raise CheckpointError(f"checkpoint {filename!r} is truncated or corrupt: its sha256 is {sha.hexdigest()[:16]}..., "
                              f"but {expected[:16]}... was recorded in {sidecar} when it was saved (the file "
                              "changed on disk since. If you rewrote it on purpose, delete the .sha256 file; "
                              "KILN_VERIFY_CHECKPOINTS=0 skips every check)")
    return True


_NAME = re.compile(r"(?:epoch|iter)_(\d+)(?:\.pth)?")


def is_dcp_checkpoint(path: str | os.PathLike) -> bool:
    """A directory written by ``kiln.checkpoint.dcp.save_dcp`` (DCP's ``.metadata`` is its last file)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, ".metadata"))


def _checkpoint_number(path: str) -> int | None:
    """N of ``epoch_N.pth``/``iter_N.pth`` files and ``epoch_N``/``iter_N`` DCP directories."""
    name = os.path.basename(path)
    match = _NAME.fullmatch(name)
    if match is None or (name.endswith(".pth") != os.path.isfile(path)):
        return None
    return int(match.group(1)) if name.endswith(".pth") or is_dcp_checkpoint(path) else None


def find_checkpoints(directory: str) -> list[str]:
    """The ``epoch_N.pth``/``iter_N.pth`` files and complete ``epoch_N``/``iter_N`` DCP directories
    in ``directory``, newest (by mtime, then N) first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), "*")):
        number = _checkpoint_number(path)
        if number is not None:
            found.append((os.path.getmtime(path), number, os.path.abspath(path)))
    return [path for _, _, path in sorted(found, reverse=True)]


def find_previous_checkpoint(filename: str) -> str | None:
    """The newest other checkpoint (file or DCP directory) in the directory of ``filename``."""
    own = os.path.abspath(os.fspath(filename))
    directory = os.path.dirname(own.rstrip(os.sep))
    found = []
    for path in find_checkpoints(directory):
        if path != own.rstrip(os.sep):
            found.append((_checkpoint_number(path), os.path.getmtime(path), path))
    own_match = _NAME.fullmatch(os.path.basename(own.rstrip(os.sep)))
    if own_match:  # prefer ones before the broken file
        earlier = [f for f in found if f[0] < int(own_match.group(1))]
        found = earlier or found
    return max(found)[2] if found else None
