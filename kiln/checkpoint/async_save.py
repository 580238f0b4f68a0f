"""Save checkpoints in the background: training waits only while the state is copied to the CPU.

``CheckpointHook(async_save=True)`` makes a save cost training the time of a CPU copy (pinned
memory on CUDA), not the time of writing the file. The copy is written by a background thread:
a single-file checkpoint through the same atomic saver as a synchronous save, a DCP directory
through ``torch.distributed.checkpoint.async_save`` on a process group of its own (its
collectives must never interleave with training's on the default group).

One save is in flight at a time. The next save, and the end of training, wait for it
(:meth:`PendingSave.wait`); a failed write raises there (and is logged when it happens), and
because ``last_checkpoint`` is written only after a save completed, it never names a broken one.

Example:
    >>> import torch
    >>> from kiln.checkpoint.async_save import stage_to_cpu, write_in_background
    >>> staged = stage_to_cpu({'w': torch.ones(2)})
    >>> pending = write_in_background(lambda: 'done')
    >>> pending.wait()
    'done'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from kiln.errors import CheckpointError
from kiln.logging import print_log

__all__ = ["PendingSave", "PendingSaves", "stage_to_cpu", "write_in_background", "checkpoint_process_group"]

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_groups: dict[int, Any] = {}


class PendingSave:
    """A checkpoint being written in the background.

    Args:
        future: Completes with the path written (or raises what the write raised).
        path: The checkpoint's final path (known before it is written).
    """

    def __init__(self, future: Future, path: str | None) -> None:
        self.future = future
        self.path = path
        future.add_done_callback(self._log_failure)

    def done(self) -> bool:
        return self.future.done()

    def wait(self) -> str | None:
        """Block until the write finished; return its path.

        Raises:
            CheckpointError: The background write failed; nothing was published under ``path``.
        """
        try:
            return self.future.result()
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"the background save of {self.path} failed: {exc}. The previous "
                                  "checkpoint and last_checkpoint are unchanged.") from exc

    def _log_failure(self, future: Future) -> None:
        exc = future.exception()
        if exc is not None:
            print_log(f"The background save of {self.path} failed ({exc}); it is raised at the next "
                      "save or at the end of training.", logger="current", level=logging.ERROR)


class PendingSaves:
    """The saves a hook has in flight, each with what to do once it is on disk.

    ``after(saved, then)`` runs ``then()`` at once for a finished save (a path or None), else when
    :meth:`wait_all` finds it completed. ``then`` is the bookkeeping that must follow a COMPLETE
    save (``last_checkpoint``, deleting old checkpoints), so it never runs for a failed one.
    """

    def __init__(self) -> None:
        self._items: list[tuple[PendingSave, Callable[[], None]]] = []

    def after(self, saved: Any, then: Callable[[], None]) -> None:
        if isinstance(saved, PendingSave):
            self._items.append((saved, then))
        else:
            then()

    def wait_all(self) -> None:
        """Wait for every save in flight, in order; raise the first failure (after dropping it)."""
        while self._items:
            pending, then = self._items.pop(0)
            pending.wait()
            then()


def done_save(path: str | None) -> PendingSave:
    """A :class:`PendingSave` that has already completed (e.g. ranks that write nothing)."""
    future: Future = Future()
    future.set_result(path)
    return PendingSave(future, path)


def _background() -> ThreadPoolExecutor:
    """One writer thread per process: saves are written in the order they were made."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-ckpt")
        return _executor


def write_in_background(fn: Callable[[], str | None], path: str | None = None) -> PendingSave:
    """Run ``fn()`` (the write of an already staged checkpoint) in the writer thread."""
    return PendingSave(_background().submit(fn), path)


def stage_to_cpu(obj: Any) -> Any:
    """A copy of ``obj`` whose tensors live in fresh CPU memory (pinned when they come from CUDA).

    The copy is what makes the save asynchronous: training may change the parameters right away.
    Copies from CUDA are non-blocking into pinned memory, with ONE synchronize at the end
    (deliberate: the background writer must not read half-copied tensors).
    """
    from_cuda = [False]
    staged = _stage(obj, from_cuda)
    if from_cuda[0]:
        torch.cuda.synchronize()
    return staged


def _stage(obj: Any, from_cuda: list[bool]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach()
        if tensor.device.type == "cuda":
            from_cuda[0] = True
            out = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            return out.copy_(tensor, non_blocking=True)
        return tensor.to("cpu", copy=True)
    if isinstance(obj, Mapping):
        out_map = type(obj)() if isinstance(obj, dict) else {}
        for key, value in obj.items():
            out_map[key] = _stage(value, from_cuda)
        metadata = getattr(obj, "_metadata", None)
        if metadata is not None:
            out_map._metadata = metadata  # type: ignore[attr-defined]
        return out_map
    if isinstance(obj, (list, tuple)):
        items = [_stage(v, from_cuda) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def checkpoint_process_group() -> Any:
    """A gloo group for background DCP saves (created once, collectively, on first use).

    A background save runs collectives (plan exchange, the final gather) while training runs its
    own; on one group they would interleave and deadlock, so the save gets a group of its own.
    gloo, because DCP's async save needs a CPU backend.
    """
    import torch.distributed as dist

    default = dist.group.WORLD
    key = id(default)
    if key not in _groups:
        _groups[key] = dist.new_group(backend="gloo")
    return _groups[key]


def dcp_async_save(state: Mapping[str, Any], directory: str, finalize: Callable[[], str | None],
                   final_path: str | None = None) -> PendingSave:
    """Stage ``state`` to the CPU now; write it as a DCP checkpoint in the background, then ``finalize()``.

    ``finalize`` runs in the writer thread after this rank's part is written (on rank 0 the DCP
    save returns only once every rank's data is written): it publishes the directory.
    """
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

    distributed = dist.is_available() and dist.is_initialized()
    group = checkpoint_process_group() if distributed else None
    stager = DefaultStager(StagingOptions(use_pinned_memory=torch.cuda.is_available(), use_shared_memory=False,
                                          use_async_staging=False, use_non_blocking_copy=False))
    upload = dcp.async_save(dict(state), checkpoint_id=directory, process_group=group,
                            async_stager=stager, no_dist=not distributed)
    if not isinstance(upload, Future):  # an AsyncSaveResponse (asynchronous staging)
        upload = upload.upload_completion

    def finish() -> str | None:
        try:
            upload.result()
        finally:
            stager.close()
        return finalize()

    return write_in_background(finish, final_path or directory)
