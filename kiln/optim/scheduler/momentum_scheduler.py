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
    "CosineAnnealingMomentum", "PolyMomentum", "momentum_class",
]


def momentum_class(base: type[ParamScheduler], name: str, module: str = __name__) -> type[ParamScheduler]:
    """A registered subclass of ``base`` scheduling ``momentum`` (or Adam's ``betas[0]``)."""

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

    def step(self: Any, *args: Any, **kwargs: Any) -> None:
        base.step(self, *args, **kwargs)
        if self.use_betas:
            for group in self.optimizer.param_groups:
                group["betas"] = (group["momentum"], *tuple(group["betas"])[1:])

    cls = make_bound_class(base, "momentum", name, module, {"__init__": __init__, "step": step})
    return PARAM_SCHEDULERS.register_module(module=cls)


ConstantMomentum = momentum_class(schedules.ConstantParamScheduler, "ConstantMomentum")
LinearMomentum = momentum_class(schedules.LinearParamScheduler, "LinearMomentum")
StepMomentum = momentum_class(schedules.StepParamScheduler, "StepMomentum")
MultiStepMomentum = momentum_class(schedules.MultiStepParamScheduler, "MultiStepMomentum")
ExponentialMomentum = momentum_class(schedules.ExponentialParamScheduler, "ExponentialMomentum")
CosineAnnealingMomentum = momentum_class(schedules.CosineAnnealingParamScheduler, "CosineAnnealingMomentum")
PolyMomentum = momentum_class(schedules.PolyParamScheduler, "PolyMomentum")
