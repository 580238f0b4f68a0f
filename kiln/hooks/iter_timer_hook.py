"""IterTimerHook: per-iteration ``time``/``data_time`` and the ``eta`` shown in log lines.

A train iteration's two timings reach the message hub together, after the iteration
(``update_scalars_later``): a hook reading ``train/data_time`` before then sees the previous one.

``data_time`` is the wait for the batch (previous iteration end → ``before_*_iter``); ``time``
is the whole iteration including that wait (previous iteration end → this iteration end).
Wall-clock only, no device sync: with an asynchronous GPU a single iteration's time is the host's
dispatch time, but averaged over the log window it converges to the real step time.
"""

from __future__ import annotations

import time

from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.registry import HOOKS

__all__ = ["IterTimerHook"]

# Message-hub keys per loop mode, built once instead of formatted at every iteration.
_DATA_TIME_KEY = {mode: f"{mode}/data_time" for mode in ("train", "val", "test")}
_TIME_KEY = {mode: f"{mode}/time" for mode in ("train", "val", "test")}


@HOOKS.register_module()
class IterTimerHook(Hook):
    """Time iterations and estimate the remaining time of the train/val/test loop."""

    priority = "NORMAL"

    def __init__(self) -> None:
        self._t = time.perf_counter()
        self.start_iter = 0
        self.time_sec_tot = 0.0
        self.time_sec_test_val = 0.0
        self._max_iters: int | None = None
        self._data_time = 0.0

    def before_train(self, runner) -> None:
        self.start_iter = runner.iter
        self.time_sec_tot = 0.0
        self._max_iters = runner.max_iters  # fixed for the run: not re-read every iteration

    def _before_epoch(self, runner) -> None:
        self._t = time.perf_counter()

    # Train iterations have their own, inlined copies of these two (they run every iteration).
    def _before_iter(self, runner, mode: str) -> None:
        runner.message_hub.update_scalar(_DATA_TIME_KEY[mode], time.perf_counter() - self._t)

    def _after_iter(self, runner, batch_idx: int, mode: str) -> None:  # val/test
        now = time.perf_counter()
        iter_time = now - self._t
        self._t = now
        hub = runner.message_hub
        hub.update_scalar(_TIME_KEY[mode], iter_time)
        self.time_sec_test_val += iter_time
        avg = self.time_sec_test_val / (batch_idx + 1)
        total = len(getattr(runner, f"{mode}_dataloader"))
        hub.update_info("eta", avg * (total - batch_idx - 1))

    def _after_epoch(self, runner, mode: str) -> None:
        if mode != "train":
            self.time_sec_test_val = 0.0

    def before_train_epoch(self, runner) -> None:
        self._before_epoch(runner)

    def before_val_epoch(self, runner) -> None:
        self._before_epoch(runner)

    def before_test_epoch(self, runner) -> None:
        self._before_epoch(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        self._data_time = time.perf_counter() - self._t  # logged with the iteration's time, below

    def before_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        self._before_iter(runner, "val")

    def before_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        self._before_iter(runner, "test")

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        now = time.perf_counter()
        iter_time, self._t = now - self._t, now
        self.time_sec_tot += iter_time
        hub = runner.message_hub
        # one record per iteration, filed into the two buffers when the hub is next read
        hub.update_scalars_later({"data_time": self._data_time, "time": iter_time}, "train/")
        it = runner.iter
        max_iters = self._max_iters if self._max_iters is not None else runner.max_iters
        hub.update_info("eta", self.time_sec_tot / (it - self.start_iter + 1) * (max_iters - it - 1))

    def after_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._after_iter(runner, batch_idx, "val")

    def after_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._after_iter(runner, batch_idx, "test")

    def after_train_epoch(self, runner) -> None:
        self._after_epoch(runner, "train")

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self._after_epoch(runner, "val")

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self._after_epoch(runner, "test")
