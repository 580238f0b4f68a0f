"""Atomic, streaming checkpoint saving with a format that loads under ``weights_only=True``.

A checkpoint that is half written when the process dies (SIGKILL, power loss, a full disk) must
never replace a good one. So every save goes to a temporary file in the target directory
(same filesystem, so the final ``os.replace`` is atomic), is fsynced, renamed over the target,
and the directory entry is fsynced too. ``torch.save`` writes straight into that file: the
checkpoint is never serialised into an in-memory buffer first (MMEngine holds it twice in RAM).

Example:
    >>> import torch
    >>> from kiln.checkpoint import save_checkpoint
    >>> save_checkpoint({'state_dict': {'w': torch.ones(2)}}, '/tmp/kiln_doc.pth')  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from kiln.errors import CheckpointError

__all__ = ["save_checkpoint", "atomic_save", "to_plain", "save_safetensors"]

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
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets the usual mode
        if writer is None:
            with os.fdopen(fd, "wb") as f:  # torch.save streams records straight into the file
                fd = -1
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
        else:
            os.close(fd)
            fd = -1
            writer(obj, tmp)
            _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        _remove_quietly(tmp)
        if isinstance(exc, (OSError, RuntimeError)):
            raise CheckpointError(
                f"could not save checkpoint {target}: {exc}. Nothing was replaced: the previous file "
                f"(if any) is intact and the partial temporary file was removed. Check free disk space "
                f"and file-size limits in {directory}.") from exc
        raise
    _fsync_dir(directory)
    return target


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
