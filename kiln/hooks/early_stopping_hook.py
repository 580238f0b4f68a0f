"""``EarlyStoppingHook``: end training when a validation metric stops improving.

After each validation it compares ``metrics[monitor]`` with the best value so far; after
``patience`` evaluations without an improvement of more than ``min_delta`` (or when the value is
not finite, or beats ``stopping_threshold``) it sets ``runner.train_loop.stop_training``. The
train loop finishes the current step and ends: ``after_train``/``after_run`` still run, so the
last checkpoint and the logs are written as usual.

Example:
    >>> custom_hooks = [dict(type='EarlyStoppingHook', monitor='val_loss', patience=3,
    ...                      min_delta=0.001)]
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

from kiln.errors import ConfigError
from kiln.hooks.checkpoint_hook import infer_rule
from kiln.hooks.hook import Hook
from kiln.logging import print_log
from kiln.registry import HOOKS

__all__ = ["EarlyStoppingHook"]

_BETTER = {"greater": lambda a, b: a > b, "less": lambda a, b: a < b}


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """Stop training when ``monitor`` has not improved for ``patience`` validations.

    Args:
        monitor: The metric key, as it appears in the evaluator's results (``'accuracy'``,
            ``'toy/accuracy'``, ``'val_loss'``).
        rule: ``'greater'`` or ``'less'``; None infers it from the name as MMEngine does
            (``acc``/``mAP``/... → greater, ``loss`` → less).
        min_delta: An improvement must be larger than this (an improvement of exactly
            ``min_delta`` counts, as in MMEngine). MMEngine's default 0.1 is large for metrics in
            [0, 1]: set it.
        strict: Raise when ``monitor`` is missing from the results (else warn and skip).
        check_finite: Stop when the monitored value is NaN or infinite.
        patience: Validations without improvement before stopping.
        stopping_threshold: Stop as soon as the value is strictly better than this.
    """

    priority = "LOWEST"

    def __init__(self, monitor: str, rule: str | None = None, min_delta: float = 0.1,
                 strict: bool = False, check_finite: bool = True, patience: int = 5,
                 stopping_threshold: float | None = None) -> None:
        path = "custom_hooks.EarlyStoppingHook"
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"{path}.monitor", f"expected a metric name, got {monitor!r}")
        if rule is None:
            rule = infer_rule(monitor)
            if rule is None:
                raise ConfigError(f"{path}.rule", f"cannot infer the rule for {monitor!r}; set "
                                                  "rule='greater' or rule='less'")
        elif rule not in _BETTER:
            raise ConfigError(f"{path}.rule", f"expected 'greater' or 'less', got {rule!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"{path}.patience", f"expected a positive int, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ConfigError(f"{path}.min_delta", f"expected a number >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.rule = rule
        self.min_delta = float(min_delta) if rule == "greater" else -float(min_delta)
        self.strict = strict
        self.check_finite = check_finite
        self.patience = patience
        self.stopping_threshold = stopping_threshold
        self.better = _BETTER[rule]
        self.best_score = -math.inf if rule == "greater" else math.inf
        self.wait_count = 0
        self._training = False

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if not hasattr(loop, "stop_training"):
            raise TypeError(f"EarlyStoppingHook needs a train loop with a `stop_training` flag; "
                            f"{type(loop).__name__} has none")
        self._training = True

    def after_train(self, runner) -> None:
        self._training = False

    def after_val_epoch(self, runner, metrics: dict[str, Any] | None = None) -> None:
        if not self._training:  # runner.val() on its own: there is no training to stop
            return
        metrics = metrics or {}
        if self.monitor not in metrics:
            message = (f"Early stopping conditioned on metric `{self.monitor}` is not available: the "
                       f"evaluation results have {sorted(metrics)}")
            if self.strict:
                raise RuntimeError(message)
            warnings.warn(f"Skip early stopping process since the evaluation results ({sorted(metrics)}) "
                          f"do not include `monitor` ({self.monitor}).", stacklevel=2)
            return
        reason = self._check(float(metrics[self.monitor]))
        if reason is not None:
            runner.train_loop.stop_training = True
            print_log(reason, logger="current", level=logging.INFO)

    def _check(self, score: float) -> str | None:
        """The reason to stop after this ``score``, or None (and the best/wait bookkeeping)."""
        if self.check_finite and not math.isfinite(score):
            return (f"Monitored metric {self.monitor} = {score} is infinite. "
                    f"Previous best value was {self.best_score:.3f}.")
        threshold = self.stopping_threshold
        if threshold is not None and self.better(score, threshold):
            self.best_score = score
            return f"Stopping threshold reached: `{self.monitor}` = {score} is {self.rule} than {threshold}."
        if self.better(self.best_score + self.min_delta, score):
            self.wait_count += 1
            if self.wait_count >= self.patience:
                return (f"the monitored metric did not improve in the last {self.wait_count} records. "
                        f"best score: {self.best_score:.3f}. ")
            return None
        self.best_score = score
        self.wait_count = 0
        return None
