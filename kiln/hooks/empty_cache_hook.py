"""``EmptyCacheHook``: release the CUDA caching allocator's unused blocks at chosen points.

Useful when another process shares the GPU, or to read ``nvidia-smi`` memory closer to what the
run really holds. ``torch.cuda.empty_cache()`` does not free tensors in use; it only returns cached
blocks to the driver, and the next allocations pay for getting them back. A no-op without CUDA.
"""

from __future__ import annotations

from typing import Any

import torch

from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.registry import HOOKS

__all__ = ["EmptyCacheHook"]


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@HOOKS.register_module()
class EmptyCacheHook(Hook):
    """Call ``torch.cuda.empty_cache()`` before/after each train, val and test epoch, or after each iteration.

    Args:
        before_epoch: Before each epoch.
        after_epoch: After each epoch.
        after_iter: After each iteration (costly: the allocator refills every iteration).
    """

    priority = "NORMAL"

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True, after_iter: bool = False) -> None:
        self._before_epoch = before_epoch
        self._after_epoch = after_epoch
        self._after_iter = after_iter

    def _iter_end(self, *_: Any, **__: Any) -> None:
        if self._after_iter:
            _empty_cache()

    def _epoch_start(self, *_: Any, **__: Any) -> None:
        if self._before_epoch:
            _empty_cache()

    def _epoch_end(self, *_: Any, **__: Any) -> None:
        if self._after_epoch:
            _empty_cache()

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._iter_end()

    def after_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._iter_end()

    def after_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._iter_end()

    def before_train_epoch(self, runner) -> None:
        self._epoch_start()

    def before_val_epoch(self, runner) -> None:
        self._epoch_start()

    def before_test_epoch(self, runner) -> None:
        self._epoch_start()

    def after_train_epoch(self, runner) -> None:
        self._epoch_end()

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self._epoch_end()

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self._epoch_end()
