"""``ParamSchedulerHook``: step the parameter schedulers at the right moment of the loop.

Iteration-based schedulers step after every train iteration, epoch-based ones after every
train epoch, and schedulers that need validation metrics (``need_val_args``, e.g.
ReduceOnPlateau) after each validation, with the metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.registry import HOOKS

__all__ = ["ParamSchedulerHook"]


def _schedulers(runner) -> Iterator[Any]:
    """Every scheduler of the run: a list, or a dict of lists (one per optimizer)."""
    schedulers = getattr(runner, "param_schedulers", None)
    if not schedulers:
        return
    groups = schedulers.values() if isinstance(schedulers, dict) else [schedulers]
    for group in groups:
        yield from (group if isinstance(group, (list, tuple)) else [group])


def _steps_by_iter(scheduler: Any) -> bool:
    return not scheduler.by_epoch and not getattr(scheduler, "need_val_args", False)


@HOOKS.register_module()
class ParamSchedulerHook(Hook):
    """Step ``runner.param_schedulers`` (by iteration, by epoch, or with validation metrics)."""

    priority = "LOW"

    def skips(self, stage: str, runner) -> bool:
        """No per-iteration call when no scheduler steps by iteration (schedulers are built
        before training starts)."""
        return stage == "after_train_iter" and not any(_steps_by_iter(s) for s in _schedulers(runner))

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        for scheduler in _schedulers(runner):
            if _steps_by_iter(scheduler):
                scheduler.step()

    def after_train_epoch(self, runner) -> None:
        for scheduler in _schedulers(runner):
            if scheduler.by_epoch and not getattr(scheduler, "need_val_args", False):
                scheduler.step()

    def after_val_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        if metrics is None:
            return
        for scheduler in _schedulers(runner):
            if getattr(scheduler, "need_val_args", False):
                scheduler.step(metrics)
