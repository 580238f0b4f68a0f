"""``SyncBuffersHook``: average the model's buffers across ranks after each training epoch.

DDP broadcasts buffers from rank 0 at each forward (``broadcast_buffers=True``), but a model
trained with ``broadcast_buffers=False`` — or BatchNorm statistics that each rank accumulated on
its own shard — ends an epoch with different buffers on each rank; validation (on rank 0's view)
and the checkpoint then see one rank's statistics. This hook all-reduces (mean) every buffer
after each train epoch and, if validation runs without a train epoch before it, before that.
Integer buffers (``num_batches_tracked``) are averaged too and truncated back to integers, as
in MMEngine. A no-op in a single process.
"""

from __future__ import annotations

import torch

from kiln.dist import all_reduce_mean, is_distributed
from kiln.hooks.hook import Hook
from kiln.registry import HOOKS

__all__ = ["SyncBuffersHook", "sync_buffers"]


def sync_buffers(module: torch.nn.Module) -> None:
    """Replace every buffer of ``module`` by its mean over ranks (one collective per dtype)."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for buffer in module.buffers():
        by_dtype.setdefault(buffer.dtype, []).append(buffer)
    for buffers in by_dtype.values():
        for buffer, mean in zip(buffers, all_reduce_mean(buffers)):
            buffer.copy_(mean)


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    """All-reduce-average ``runner.model``'s buffers after each train epoch when distributed."""

    priority = "NORMAL"

    def __init__(self) -> None:
        self._synced_after_train = False

    def after_train_epoch(self, runner) -> None:
        if is_distributed():  # asked each time: the hook may be built before init_process_group
            sync_buffers(runner.model)
            self._synced_after_train = True

    def before_val_epoch(self, runner) -> None:
        if is_distributed() and not self._synced_after_train:
            sync_buffers(runner.model)
        self._synced_after_train = False
