"""Atomic, streaming checkpoint saving with a format that loads under ``weights_only=True``.

A checkpoint that is half written when the process dies (SIGKILL, power loss, a full disk) must
never replace a good one, and one that was damaged later must not load silently. So every save goes to a temporary file in the target directory
(same filesystem, so the final ``os.replace`` is atomic), is fsynced, renamed over the target,
and the directory entry is fsynced too. ``torch.save`` writes straight into that file: the
checkpoint is never serialised into an in-memory buffer first (MMEngine holds it twice in RAM).
The bytes are hashed (sha256) as they stream to disk, and the digest is written next to the file
as ``<file>.sha256`` (``sha256sum -c`` reads it); ``kiln.checkpoint.reading`` verifies it on
resume and ``load_from``.

Example:
    >>> import torch
    >>> from kiln.checkpoint import save_checkpoint
    >>> save_checkpoint({'state_dict': {'w': torch.ones(2)}}, '/tmp/kiln_doc.pth')  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from kiln.errors import CheckpointError

__all__ = ["save_checkpoint", "atomic_save", "to_plain", "save_safetensors", "HashingWriter", "digest_path",
           "write_digest", "DIGEST_SUFFIX"]

DIGEST_SUFFIX = ".sha256"

_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_TORCH_PLAIN = (torch.Tensor, torch.Size, torch.dtype, torch.device)


def to_plain(obj: Any, path: str = "checkpoint") -> Any:
    """Return ``obj`` with only the types ``torch.load(weights_only=True)`` accepts.

    Containers are rebuilt (tensors are shared, not copied). numpy scalars become Python
    numbers and numpy arrays become tensors, because both are common in user ``meta`` and
    message-hub values. Anything else raises, naming where it sits, so the problem shows at
    save time rather than as an unloadable file at resume time.

    Raises:
        CheckpointError: ``obj`` holds an object that is not a tensor, number, string, list,
            tuple, dict or None.
    """
    if isinstance(obj, _SCALARS) or isinstance(obj, _TORCH_PLAIN):
        return obj
    if isinstance(obj, Mapping):
        plain = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise CheckpointError(f"{path}: dict key {key!r} of type {type(key).__name__} cannot be "
                                      "saved safely; use str or int keys")
            plain[key] = to_plain(value, f"{path}[{key!r}]")
        metadata = getattr(obj, "_metadata", None)  # a module state dict keeps its per-module versions
        if isinstance(plain, OrderedDict) and metadata is not None:
            plain._metadata = to_plain(metadata, f"{path}._metadata")  # type: ignore[attr-defined]
        return plain
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    numpy_value = _numpy_to_plain(obj)
    if numpy_value is not None:
        return numpy_value
    raise CheckpointError(
        f"{path}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be saved in a checkpoint that "
        "loads with torch.load(weights_only=True); store only tensors, numbers, strings, lists, tuples, "
        "dicts and None (convert it, e.g. to a str or dict, before saving)")


def _numpy_to_plain(obj: Any) -> Any:
    """numpy values as plain values, or None when ``obj`` is not numpy (numpy is imported only if used)."""
    module = type(obj).__module__
    if not module.startswith("numpy"):
        return None
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return torch.from_numpy(np.ascontiguousarray(obj))
    return None


def atomic_save(obj: Any, filename: str | os.PathLike, writer: Callable[[Any, str], None] | None = None) -> str:
    """Write ``obj`` to ``filename`` so that the file is either the old one or the complete new one.

    Args:
        obj: What to save.
        filename: Target path; its directory is created if needed.
        writer: ``writer(obj, path)`` writes the file (default ``torch.save``, which streams to disk).

    Returns:
        The absolute path written.

    Raises:
        CheckpointError: The write failed (e.g. disk full); the temporary file is removed and any
            previous ``filename`` is left untouched.
    """
    target = os.path.abspath(os.fspath(filename))
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    digest = None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets the usual mode
        if writer is None:
            with os.fdopen(fd, "wb") as f:  # torch.save streams records straight into the file
                fd = -1
                hashing = HashingWriter(f)  # the digest is computed from the bytes as they are written
                torch.save(obj, hashing)
                f.flush()
                os.fsync(f.fileno())
                digest = hashing.hexdigest()
        else:
            os.close(fd)
            fd = -1
            writer(obj, tmp)
            _fsync_file(tmp)
        _remove_quietly(digest_path(target))  # never leave the old file's digest beside the new file
        os.replace(tmp, target)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        _remove_quietly(tmp)
        if isinstance(exc, (OSError, RuntimeError)):
            raise CheckpointError(_save_failure(target, exc, obj)) from exc
        raise
    _fsync_dir(directory)
    if digest is not None:
        write_digest(target, digest)
    return target


def _save_failure(target: str, exc: BaseException, obj: Any) -> str:
    """The save error message; a full disk says so plainly (torch reports it as 'unexpected pos')."""
    directory = os.path.dirname(target)
    intact = ("Nothing was replaced: the previous file (if any) is intact and the partial temporary "
              "file was removed.")
    if _is_enospc(exc):
        needed = _tensor_bytes(obj)
        free = shutil.disk_usage(directory).free
        return (f"could not save checkpoint {target}: No space left on device (ENOSPC). The checkpoint "
                f"needs about {_mb(needed)} and {directory} has {_mb(free)} free. {intact} Free some "
                f"space (max_keep_ckpts=N needs room for N+1 checkpoints while the newest is written).")
    return (f"could not save checkpoint {target}: {exc}. {intact} Check free disk space and file-size "
            f"limits in {directory}.")


def _is_enospc(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class HashingWriter:
    """A write-only file object that passes bytes through to ``f`` and hashes them on the way.

    ``torch.save`` writes the checkpoint through it, so the digest costs no second read of the
    file (sha256 runs at ~1–2 GB/s, next to a disk write; see benchmarks/checkpoint_io.py).
    """

    def __init__(self, f: Any) -> None:
        self._f = f
        self._sha = hashlib.sha256()

    def write(self, data: Any) -> int:
        self._sha.update(data)
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def digest_path(checkpoint: str | os.PathLike) -> str:
    """The sidecar holding a checkpoint's sha256: ``epoch_3.pth.sha256`` (``sha256sum -c`` format)."""
    return os.fspath(checkpoint) + DIGEST_SUFFIX


def write_digest(checkpoint: str, digest: str) -> None:
    """Write the sidecar atomically (a missing sidecar means 'not verified', never 'corrupt')."""
    def write_text(text: str, tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    try:
        atomic_save(f"{digest}  {os.path.basename(checkpoint)}\n", digest_path(checkpoint), writer=write_text)
    except CheckpointError:  # the checkpoint itself is complete: only its verification is lost
        pass


def save_checkpoint(checkpoint: Mapping[str, Any], filename: str | os.PathLike,
                    save_format: str = "pth") -> str:
    """Save a checkpoint dict atomically (MMEngine's ``save_checkpoint(checkpoint, filename)``).

    Args:
        checkpoint: The dict; it must hold only plain types and tensors (see :func:`to_plain`).
        filename: Target path.
        save_format: ``'pth'`` (``torch.save``) or ``'safetensors'`` — weights only: the
            ``state_dict`` entry (or the dict itself if it has none) with ``meta`` as JSON metadata.

    Returns:
        The absolute path written.
    """
    if save_format == "pth":
        return atomic_save(to_plain(checkpoint), filename)
    if save_format == "safetensors":
        weights = checkpoint.get("state_dict", checkpoint)
        return save_safetensors(weights, filename, meta=checkpoint.get("meta"))
    raise CheckpointError(f"save_format: expected 'pth' or 'safetensors', but got {save_format!r}")


def save_safetensors(state_dict: Mapping[str, torch.Tensor], filename: str | os.PathLike,
                     meta: Mapping[str, Any] | None = None) -> str:
    """Save model weights as a ``.safetensors`` file, atomically.

    safetensors refuses tensors that share memory and non-contiguous ones; those are cloned
    (only them), so exported weights always load in any safetensors reader.
    """
    import json

    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"state_dict[{key!r}]: safetensors stores tensors only, "
                                  f"but got {type(value).__name__}")
        tensor = value.detach().cpu()
        ptr = tensor.untyped_storage().data_ptr() if tensor.numel() else -1
        if ptr in seen or not tensor.is_contiguous():
            tensor = tensor.contiguous().clone()
        seen.add(ptr)
        tensors[key] = tensor
    metadata = {"format": "pt"}
    if meta:
        metadata["meta"] = json.dumps(to_plain(dict(meta)), default=str)
    return atomic_save(tensors, filename, writer=lambda obj, path: save_file(obj, path, metadata=metadata))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    """Persist the rename itself (a directory entry); not supported on every platform/filesystem."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
