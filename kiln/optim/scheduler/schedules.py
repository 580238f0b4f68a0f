"""The schedules themselves, generic over the param-group key (``ConstantParamScheduler`` ...).

Each ``_get_value`` is torch's chainable update rule (the same formulas as
``torch.optim.lr_scheduler``, which the tests compare against step by step) written for any
``param_name``, because torch's versions read and write ``group['lr']`` only. ``last_step`` counts
from 0 at ``begin``; the length of a window is ``end - begin``. OneCycle uses torch's own
annealing functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch.optim.lr_scheduler import OneCycleLR as _TorchOneCycleLR

from kiln.errors import ConfigError
from kiln.optim.scheduler.param_scheduler import INF, ParamScheduler, groups_note
from kiln.registry import PARAM_SCHEDULERS

__all__ = [
    "ConstantParamScheduler", "LinearParamScheduler", "StepParamScheduler", "MultiStepParamScheduler",
    "ExponentialParamScheduler", "CosineAnnealingParamScheduler", "PolyParamScheduler",
    "OneCycleParamScheduler",
]


def _check_factor(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        (low < value if low_open else low <= value) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ConfigError(name, f"expected a number in {bracket}{low}, {high}], but got {value!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(name, f"expected a positive int, but got {value!r}")


def _window(begin: int, end: int) -> int:
    """Steps the scheduler acts on, minus one: the ``last_step`` at which a ramp is complete."""
    return end - begin - 1


@PARAM_SCHEDULERS.register_module()
class ConstantParamScheduler(ParamScheduler):
    """Multiply the value by ``factor`` from ``begin`` until the last step of the window, then restore it."""

    def __init__(self, optimizer: Any, param_name: str, factor: float = 1.0 / 3, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        _check_factor("factor", factor, 0.0, 1.0, low_open=True)
        self.factor = factor
        self.total_iters = _window(begin, end)
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [g[self.param_name] * self.factor for g in groups]
        if self.last_step != self.total_iters:
            return [g[self.param_name] for g in groups]
        return [g[self.param_name] / self.factor for g in groups]


@PARAM_SCHEDULERS.register_module()
class LinearParamScheduler(ParamScheduler):
    """Ramp the factor linearly from ``start_factor`` (at ``begin``) to ``end_factor`` (at ``end - 1``)."""

    def __init__(self, optimizer: Any, param_name: str, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        _check_factor("start_factor", start_factor, 0.0, 1.0, low_open=True)
        _check_factor("end_factor", end_factor, 0.0, 1.0)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _window(begin, end)
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [g[self.param_name] * self.start_factor for g in groups]
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_step - 1) * delta)
        return [g[self.param_name] * ratio for g in groups]


@PARAM_SCHEDULERS.register_module()
class StepParamScheduler(ParamScheduler):
    """Multiply the value by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Any, param_name: str, step_size: int, gamma: float = 0.1, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        _check_positive_int("step_size", step_size)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @classmethod
    def _epochs_to_iters(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        if "step_size" in kwargs:
            kwargs["step_size"] = kwargs["step_size"] * epoch_length
        return kwargs

    def _get_value(self) -> list[Any]:
        factor = self.gamma if self.last_step != 0 and self.last_step % self.step_size == 0 else 1.0
        return [g[self.param_name] * factor for g in self.optimizer.param_groups]


@PARAM_SCHEDULERS.register_module()
class MultiStepParamScheduler(ParamScheduler):
    """Multiply the value by ``gamma`` at each milestone (a repeated milestone multiplies repeatedly)."""

    def __init__(self, optimizer: Any, param_name: str, milestones: Sequence[int], gamma: float = 0.1,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence) or \
                not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in milestones):
            raise ConfigError("milestones", f"expected a list of non-negative ints, but got {milestones!r}")
        self.milestones: dict[int, int] = {}  # milestone -> how often it was listed (a plain dict)
        for m in sorted(milestones):
            self.milestones[m] = self.milestones.get(m, 0) + 1
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @classmethod
    def _epochs_to_iters(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        if "milestones" in kwargs:
            kwargs["milestones"] = [m * epoch_length for m in kwargs["milestones"]]
        return kwargs

    def _get_value(self) -> list[Any]:
        factor = self.gamma ** self.milestones.get(self.last_step, 0)
        return [g[self.param_name] * factor for g in self.optimizer.param_groups]


@PARAM_SCHEDULERS.register_module()
class ExponentialParamScheduler(ParamScheduler):
    """Multiply the value by ``gamma`` every step."""

    def __init__(self, optimizer: Any, param_name: str, gamma: float, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        factor = 1.0 if self.last_step == 0 else self.gamma
        return [g[self.param_name] * factor for g in self.optimizer.param_groups]


@PARAM_SCHEDULERS.register_module()
class CosineAnnealingParamScheduler(ParamScheduler):
    """Cosine from the value at ``begin`` down to ``eta_min`` over ``T_max`` steps (default ``end - begin``).

    ``eta_min_ratio`` sets each group's minimum relative to its initial value instead.
    """

    def __init__(self, optimizer: Any, param_name: str, T_max: int | None = None, eta_min: float | None = None,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False, eta_min_ratio: float | None = None) -> None:
        if eta_min is not None and eta_min_ratio is not None:
            raise ConfigError("eta_min_ratio", "give eta_min or eta_min_ratio, not both")
        if T_max is None:
            if end == INF:
                raise ConfigError("T_max", "give T_max or a finite end (T_max defaults to end - begin)")
            T_max = end - begin
        _check_positive_int("T_max", T_max)
        self.T_max = T_max
        self.eta_min = 0.0 if eta_min is None and eta_min_ratio is None else eta_min
        self.eta_min_ratio = eta_min_ratio
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @classmethod
    def _epochs_to_iters(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        if kwargs.get("T_max") is not None:
            kwargs["T_max"] = kwargs["T_max"] * epoch_length
        return kwargs

    def _get_value(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [g[self.param_name] for g in groups]
        k, t = self.last_step, self.T_max
        values = []
        for group, base in zip(groups, self.base_values):
            eta_min = base * self.eta_min_ratio if self.eta_min_ratio is not None else self.eta_min
            current = group[self.param_name]
            if (k - 1 - t) % (2 * t) == 0:  # the restart point of the cosine (past T_max)
                values.append(current + (base - eta_min) * (1 - math.cos(math.pi / t)) / 2)
            else:
                values.append((1 + math.cos(math.pi * k / t)) / (1 + math.cos(math.pi * (k - 1) / t))
                              * (current - eta_min) + eta_min)
        return values


@PARAM_SCHEDULERS.register_module()
class PolyParamScheduler(ParamScheduler):
    """Polynomial decay from the value at ``begin`` to ``eta_min`` at ``end - 1``."""

    def __init__(self, optimizer: Any, param_name: str, eta_min: float = 0.0, power: float = 1.0,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        self.eta_min = eta_min
        self.power = power
        self.total_iters = _window(begin, end)
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [g[self.param_name] for g in groups]
        factor = (1.0 - 1.0 / (self.total_iters - self.last_step + 1)) ** self.power
        return [(g[self.param_name] - self.eta_min) * factor + self.eta_min for g in groups]


@PARAM_SCHEDULERS.register_module()
class OneCycleParamScheduler(ParamScheduler):
    """The 1cycle policy: warm up to ``eta_max`` then anneal far below the start (closed form).

    Per group, the value starts at ``eta_max / div_factor``, reaches ``eta_max`` after
    ``pct_start`` of ``total_steps`` (default ``end - begin``) and ends at
    ``eta_max / div_factor / final_div_factor``; ``three_phase`` comes back to the start value
    first. ``eta_max`` may be a list, one per param group.
    """

    def __init__(self, optimizer: Any, param_name: str, eta_max: float | Sequence[float],
                 total_steps: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if total_steps is None:
            if end == INF:
                raise ConfigError("total_steps", "give total_steps or a finite end (total_steps defaults to end - begin)")
            total_steps = end - begin
        _check_positive_int("total_steps", total_steps)
        _check_factor("pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ConfigError("anneal_strategy", f"expected 'cos' or 'linear', but got {anneal_strategy!r}")
        groups = optimizer.param_groups
        max_values = list(eta_max) if isinstance(eta_max, Sequence) else [eta_max] * len(groups)
        if len(max_values) != len(groups):
            raise ConfigError("eta_max", f"expected one value per param group ({len(groups)}{groups_note(optimizer)}), "
                                      f"but got {len(max_values)}")
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        self.three_phase = three_phase
        self._phases = self._build_phases(param_name, float(pct_start), total_steps, three_phase)
        if last_step == -1:
            for group, top in zip(groups, max_values):
                group[f"initial_{param_name}"] = top / div_factor
                group[f"max_{param_name}"] = top
                group[f"min_{param_name}"] = top / div_factor / final_div_factor
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @staticmethod
    def _build_phases(name: str, pct_start: float, total: int, three_phase: bool) -> list[tuple[float, str, str]]:
        """``(end_step, start_key, end_key)`` per phase, as torch's OneCycleLR."""
        initial, top, low = f"initial_{name}", f"max_{name}", f"min_{name}"
        if three_phase:
            return [(pct_start * total - 1, initial, top), (2 * pct_start * total - 2, top, initial),
                    (total - 1, initial, low)]
        return [(pct_start * total - 1, initial, top), (total - 1, top, low)]

    @classmethod
    def _epochs_to_iters(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        if kwargs.get("total_steps") is not None:
            kwargs["total_steps"] = kwargs["total_steps"] * epoch_length
        return kwargs

    def _get_value(self) -> list[Any]:
        step = self.last_step
        if step > self.total_steps:
            raise ValueError(f"{type(self).__name__} was stepped {step + 1} times, more than total_steps="
                             f"{self.total_steps}; raise total_steps or end")
        anneal = _TorchOneCycleLR._annealing_cos if self.anneal_strategy == "cos" \
            else _TorchOneCycleLR._annealing_linear
        values = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, start_key, end_key) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    values.append(anneal(group[start_key], group[end_key], pct))
                    break
                start_step = end_step
        return values
