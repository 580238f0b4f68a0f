"""ParamScheduler: the base of every parameter scheduler (lr, momentum, or any param-group key).

MMEngine's semantics: a scheduler is active for global steps ``begin <= step < end`` (epochs when
``by_epoch``, iterations otherwise), counts its own ``last_step`` from 0 at ``begin``, and updates
each param group *chainably* (the new value is derived from the group's current one), so that
several schedulers compose: a linear warm-up over the first iterations times a cosine decay over
epochs. Construction performs step 0, exactly like torch's schedulers.

``state_dict()`` holds only plain python values, so checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

from typing import Any

from kiln.errors import ConfigError
from kiln.logging import print_log

__all__ = ["ParamScheduler", "INF", "groups_note"]

INF = int(1e9)


def groups_note(optimizer: Any) -> str:
    """Explains a surprising param-group count: OptimWrapper's extra base group."""
    if getattr(optimizer, "base_param_settings", None) is not None:
        return "; the last one is the OptimWrapper's base group, added when the optimizer has several"
    return ""


class ParamScheduler:
    """Base class: subclasses implement :meth:`_get_value` for the current ``last_step``.

    Args:
        optimizer: An :class:`~kiln.optim.OptimWrapper` or a torch optimizer (anything with
            ``param_groups``).
        param_name: The param-group key to schedule (``'lr'``, ``'momentum'``, ``'weight_decay'``...).
        begin: First step (inclusive) at which the scheduler acts.
        end: Step (exclusive) after which the scheduler stops changing the value.
        last_step: -1 for a fresh scheduler; otherwise the groups must already hold
            ``initial_{param_name}`` (resuming by hand).
        by_epoch: Whether ``begin``/``end`` and ``step()`` count epochs (True) or iterations.
        verbose: Log every value change.
    """

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise ConfigError("optimizer", f"expected an OptimWrapper or a torch optimizer, but got "
                                           f"{type(optimizer).__name__}")
        for key, value in (("begin", begin), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(key, f"expected a non-negative int, but got {value!r}")
        if begin >= end:
            raise ConfigError("end", f"must be greater than begin, but got begin={begin}, end={end}")
        self.optimizer = optimizer
        self.param_name = param_name
        self.begin = begin
        self.end = end
        self.by_epoch = by_epoch
        self.verbose = verbose
        initial = f"initial_{param_name}"
        for i, group in enumerate(optimizer.param_groups):
            if param_name not in group:
                raise ConfigError("type", f"{type(self).__name__} schedules {param_name!r}, but param group {i} "
                                          f"of the optimizer has no such key (it has: {sorted(k for k in group if k != 'params')})")
            if last_step == -1:
                group.setdefault(initial, group[param_name])
            elif initial not in group:
                raise ConfigError("last_step", f"last_step={last_step} needs {initial!r} in every param group "
                                               f"(missing in group {i}); use last_step=-1 for a fresh scheduler")
        self.base_values = [group[initial] for group in optimizer.param_groups]
        self.last_step = last_step
        self._global_step = -1
        self._last_value: list[Any] = []
        self.step()

    # -- converting epoch-based configs to iterations ---------------------------------------
    @classmethod
    def build_iter_from_epoch(cls, *args: Any, begin: int = 0, end: int = INF, by_epoch: bool = True,
                              epoch_length: int | None = None, **kwargs: Any) -> ParamScheduler:
        """Build from epoch-based arguments a scheduler that steps every iteration.

        ``begin``/``end`` (and the subclass's period arguments) are multiplied by ``epoch_length``,
        so the schedule follows the same curve but changes smoothly within epochs.
        """
        if not by_epoch:
            raise ConfigError("convert_to_iter_based", "only by_epoch=True configs can be converted to iterations")
        if isinstance(epoch_length, bool) or not isinstance(epoch_length, int) or epoch_length <= 0:
            raise ConfigError("epoch_length", f"expected a positive int (iterations per epoch), but got {epoch_length!r}")
        kwargs = cls._epochs_to_iters(kwargs, epoch_length)
        begin = int(begin * epoch_length)
        if end != INF:
            end = int(end * epoch_length)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)

    @classmethod
    def _epochs_to_iters(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        """Subclasses scale their own step-count arguments (step_size, milestones, T_max...)."""
        return kwargs

    # -- stepping -----------------------------------------------------------------------------
    def _get_value(self) -> list[Any]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch/iteration; change the values only inside ``[begin, end)``."""
        self._global_step += 1
        if self.begin <= self._global_step < self.end:
            self.last_step += 1
            for i, (group, value) in enumerate(zip(self.optimizer.param_groups, self._get_value())):
                group[self.param_name] = value
                if self.verbose:
                    print_log(f"Adjusting parameter value of group {i} to {value:.4e}.")
        self._last_value = [group[self.param_name] for group in self.optimizer.param_groups]

    def get_last_value(self) -> list[Any]:
        """The values set by the latest ``step()``, one per param group."""
        return self._last_value

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (plain python values only)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        unit = "epoch" if self.by_epoch else "iter"
        end = "inf" if self.end == INF else self.end
        return f"{type(self).__name__}(param_name={self.param_name!r}, {unit} range=[{self.begin}, {end}))"
