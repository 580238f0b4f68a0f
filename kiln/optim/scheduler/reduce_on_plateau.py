"""ReduceOnPlateau: lower a parameter when a validation metric stops improving.

Unlike the other schedulers it is stepped with the validation metrics (``need_val_args``):
``ParamSchedulerHook`` calls ``step(metrics)`` after each validation. ``step()`` without metrics
only counts the global step, so ``begin``/``end`` still refer to epochs (or iterations). The rule
is torch's ``ReduceLROnPlateau`` (the tests compare the two), for any param-group key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.optim.scheduler.lr_scheduler import bind_param_name
from kiln.optim.scheduler.momentum_scheduler import momentum_class
from kiln.optim.scheduler.param_scheduler import INF, ParamScheduler, groups_note
from kiln.registry import PARAM_SCHEDULERS

__all__ = ["ReduceOnPlateauParamScheduler", "ReduceOnPlateauLR", "ReduceOnPlateauMomentum"]


@PARAM_SCHEDULERS.register_module()
class ReduceOnPlateauParamScheduler(ParamScheduler):
    """Multiply the value by ``factor`` once ``monitor`` has not improved for ``patience`` validations.

    Args:
        monitor: Key of the metrics dict to watch (e.g. ``'accuracy'`` or ``'loss'``).
        rule: ``'less'`` (lower is better) or ``'greater'``.
        factor: Multiplier applied on a plateau, in (0, 1).
        patience: Validations without improvement tolerated before reducing.
        threshold, threshold_rule: What counts as an improvement: relative (``'rel'``) or absolute
            (``'abs'``) margin over the best value so far.
        cooldown: Validations to wait after a reduction before counting again.
        min_value: Lower bound of the value (one per param group, or one for all).
        eps: Reductions smaller than this are skipped.
    """

    need_val_args = True

    def __init__(self, optimizer: Any, param_name: str, monitor: str = "loss", rule: str = "less",
                 factor: float = 0.1, patience: int = 10, threshold: float = 1e-4, threshold_rule: str = "rel",
                 cooldown: int = 0, min_value: float | Sequence[float] = 0.0, eps: float = 1e-8,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if rule not in ("less", "greater"):
            raise ConfigError("rule", f"expected 'less' or 'greater', but got {rule!r}")
        if threshold_rule not in ("rel", "abs"):
            raise ConfigError("threshold_rule", f"expected 'rel' or 'abs', but got {threshold_rule!r}")
        if not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ConfigError("factor", f"expected a number in (0, 1), but got {factor!r}")
        groups = getattr(optimizer, "param_groups", [])
        mins = list(min_value) if isinstance(min_value, Sequence) else [min_value] * len(groups)
        if len(mins) != len(groups):
            raise ConfigError("min_value", f"expected one value per param group ({len(groups)}{groups_note(optimizer)}), "
                                      f"but got {len(mins)}")
        self.monitor = monitor
        self.rule = rule
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_rule = threshold_rule
        self.cooldown = cooldown
        self.min_values = mins
        self.eps = eps
        self.best = float("inf") if rule == "less" else float("-inf")
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def step(self, metrics: Mapping[str, Any] | None = None) -> None:  # type: ignore[override]
        """Without ``metrics``: count a step. With them: compare ``metrics[monitor]`` and maybe reduce."""
        if metrics is None:
            self._global_step += 1
            self._last_value = [g[self.param_name] for g in self.optimizer.param_groups]
            return
        if not isinstance(metrics, Mapping):
            raise TypeError(f"{type(self).__name__}.step expects the metrics dict, but got {type(metrics).__name__}")
        if self.begin <= self._global_step < self.end:
            self.last_step += 1
            if self.monitor not in metrics:
                raise KeyError(f"{type(self).__name__} monitors {self.monitor!r}, which is not among the "
                               f"validation metrics {sorted(metrics)}")
            self._observe(float(metrics[self.monitor]))
        self._last_value = [g[self.param_name] for g in self.optimizer.param_groups]

    def _observe(self, metric: float) -> None:
        if self._is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for i, (group, value) in enumerate(zip(self.optimizer.param_groups, self._get_value())):
                group[self.param_name] = value
                if self.verbose:
                    print_log(f"Adjusting parameter value of group {i} to {value:.4e}.")
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _is_better(self, metric: float) -> bool:
        """torch's ReduceLROnPlateau comparison, term for term."""
        if self.rule == "less":
            bound = self.best * (1.0 - self.threshold) if self.threshold_rule == "rel" else self.best - self.threshold
            return metric < bound
        bound = self.best * (1.0 + self.threshold) if self.threshold_rule == "rel" else self.best + self.threshold
        return metric > bound

    def _get_value(self) -> list[Any]:
        values = []
        for group, low in zip(self.optimizer.param_groups, self.min_values):
            old = group[self.param_name]
            new = max(old * self.factor, low)
            values.append(new if old - new > self.eps else old)
        return values


ReduceOnPlateauLR = PARAM_SCHEDULERS.register_module(
    module=bind_param_name(ReduceOnPlateauParamScheduler, "lr", "ReduceOnPlateauLR", __name__))
ReduceOnPlateauMomentum = momentum_class(ReduceOnPlateauParamScheduler, "ReduceOnPlateauMomentum", __name__)
