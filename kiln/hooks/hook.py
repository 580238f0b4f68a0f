"""The Hook base class: one method per stage of a run, all no-ops by default.

A hook overrides the stages it cares about; the Runner calls every registered hook's method for a
stage in priority order (lower value first, registration order among equals). Hooks talk to the
run only through the runner passed in; a hook never reaches into another hook's state.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Hook", "Priority", "get_priority", "STAGES"]

DATA_BATCH = Any | None


class Priority:
    """MMEngine's named priorities (lower runs first)."""

    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(priority: int | str) -> int:
    """``'NORMAL'`` → 50; an int in [0, 100] is returned as is."""
    if isinstance(priority, bool):
        raise TypeError("priority must be an int in [0, 100] or a Priority name, but got a bool")
    if isinstance(priority, int):
        if not 0 <= priority <= 100:
            raise ValueError(f"priority must be in [0, 100], but got {priority}")
        return priority
    if isinstance(priority, str):
        value = getattr(Priority, priority.upper(), None)
        if isinstance(value, int):
            return value
        names = ", ".join(k for k in vars(Priority) if k.isupper())
        raise ValueError(f"unknown priority {priority!r}; expected one of {names} or an int")
    raise TypeError(f"priority must be an int or a str, but got {type(priority).__name__}")


STAGES = (
    "before_run",
    "after_load_checkpoint",
    "before_train",
    "before_train_epoch",
    "before_train_iter",
    "after_train_iter",
    "after_train_epoch",
    "before_val",
    "before_val_epoch",
    "before_val_iter",
    "after_val_iter",
    "after_val_epoch",
    "after_val",
    "before_save_checkpoint",
    "after_train",
    "before_test",
    "before_test_epoch",
    "before_test_iter",
    "after_test_iter",
    "after_test_epoch",
    "after_test",
    "after_run",
)


class Hook:
    """Base class of all hooks. Override the stages you need.

    Example:
        >>> class PrintLoss(Hook):
        ...     def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        ...         if self.every_n_inner_iters(batch_idx, 100):
        ...             print(outputs['loss'])
    """

    priority: int | str = "NORMAL"

    def before_run(self, runner) -> None:
        pass

    def after_run(self, runner) -> None:
        pass

    def before_train(self, runner) -> None:
        pass

    def after_train(self, runner) -> None:
        pass

    def before_val(self, runner) -> None:
        pass

    def after_val(self, runner) -> None:
        pass

    def before_test(self, runner) -> None:
        pass

    def after_test(self, runner) -> None:
        pass

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        pass

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        pass

    def before_train_epoch(self, runner) -> None:
        pass

    def before_val_epoch(self, runner) -> None:
        pass

    def before_test_epoch(self, runner) -> None:
        pass

    def after_train_epoch(self, runner) -> None:
        pass

    def after_val_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        pass

    def after_test_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        pass

    def before_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        pass

    def before_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        pass

    def before_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        pass

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        pass

    def after_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                       outputs: Any = None) -> None:
        pass

    def after_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                        outputs: Any = None) -> None:
        pass

    # -- helpers (MMEngine's semantics) ------------------------------------------------------
    def every_n_epochs(self, runner, n: int, start: int = 0) -> bool:
        dividend = runner.epoch + 1 - start
        return dividend % n == 0 if dividend >= 0 and n > 0 else False

    def every_n_inner_iters(self, batch_idx: int, n: int) -> bool:
        return (batch_idx + 1) % n == 0 if n > 0 else False

    def every_n_train_iters(self, runner, n: int, start: int = 0) -> bool:
        dividend = runner.iter + 1 - start
        return dividend % n == 0 if dividend >= 0 and n > 0 else False

    def end_of_epoch(self, dataloader, batch_idx: int) -> bool:
        return batch_idx + 1 == len(dataloader)

    def is_last_train_epoch(self, runner) -> bool:
        return runner.epoch + 1 == runner.max_epochs

    def is_last_train_iter(self, runner) -> bool:
        return runner.iter + 1 == runner.max_iters

    def skips(self, stage: str, runner) -> bool:
        """True if this hook has nothing to do at ``stage`` for the whole run (a kiln extension).

        Asked once per stage when training starts (after every hook's ``before_train``): the
        hook list then leaves the hook out of that stage's calls, so a per-iteration method that
        would only ``return`` (a CheckpointHook saving by epoch) costs nothing per iteration.
        Default: never skip.
        """
        return False

    def get_triggered_stages(self) -> list[str]:
        """The stages this hook overrides (used to print the hook order)."""
        return [s for s in STAGES if getattr(type(self), s) is not getattr(Hook, s)]
