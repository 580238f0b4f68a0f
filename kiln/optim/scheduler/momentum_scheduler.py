"""Momentum schedulers: the generic schedules bound to ``'momentum'``.

For optimizers without a ``momentum`` key but with ``betas`` (Adam, AdamW...), ``betas[0]`` is
scheduled: its value is mirrored into a ``momentum`` key of each group and written back to
``betas`` after every step.
"""

from __future__ import annotations

from typing import Any

from kiln.errors import ConfigError
from kiln.optim.scheduler import schedules
from kiln.optim.scheduler.lr_scheduler import make_bound_class
from kiln.optim.scheduler.param_scheduler import ParamScheduler
from kiln.registry import PARAM_SCHEDULERS

__all__ = [
    "ConstantMomentum", "LinearMomentum", "StepMomentum", "MultiStepMomentum", "ExponentialMomentum",
    "CosineAnnealingMomentum", "PolyMomentum",
]


def _momentum(base: type[ParamScheduler], name: str) -> type[ParamScheduler]:
    def __init__(self: Any, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        groups = getattr(optimizer, "param_groups", [])
        self.use_betas = False
        if groups and all("momentum" not in g for g in groups):
            if not all("betas" in g for g in groups):
                raise ConfigError("type", f"{name} needs an optimizer with 'momentum' (SGD, RMSprop...) or "
                                          f"'betas' (Adam...), but {type(optimizer).__name__} has neither")
            self.use_betas = True
            for group in groups:
                group["momentum"] = group["betas"][0]
        base.__init__(self, optimizer, "momentum", *args, **kwargs)

    def step(self: Any) -> None:
        base.step(self)
        if self.use_betas:
            for group in self.optimizer.param_groups:
                group["betas"] = (group["momentum"], *tuple(group["betas"])[1:])

    cls = make_bound_class(base, "momentum", name, __name__, {"__init__": __init__, "step": step})
    return PARAM_SCHEDULERS.register_module(module=cls)


ConstantMomentum = _momentum(schedules.ConstantParamScheduler, "ConstantMomentum")
LinearMomentum = _momentum(schedules.LinearParamScheduler, "LinearMomentum")
StepMomentum = _momentum(schedules.StepParamScheduler, "StepMomentum")
MultiStepMomentum = _momentum(schedules.MultiStepParamScheduler, "MultiStepMomentum")
ExponentialMomentum = _momentum(schedules.ExponentialParamScheduler, "ExponentialMomentum")
CosineAnnealingMomentum = _momentum(schedules.CosineAnnealingParamScheduler, "CosineAnnealingMomentum")
PolyMomentum = _momentum(schedules.PolyParamScheduler, "PolyMomentum")
