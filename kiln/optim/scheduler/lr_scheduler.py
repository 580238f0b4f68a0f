"""Learning-rate schedulers: the generic schedules bound to ``param_name='lr'``.

``LinearLR(optimizer, start_factor=0.1, end=5, by_epoch=False)`` is
``LinearParamScheduler(optimizer, 'lr', ...)``; the class keeps the generic signature (minus
``param_name``) so config typos are reported with the accepted argument names.
"""

from __future__ import annotations

import inspect
from typing import Any

from kiln.optim.scheduler import schedules
from kiln.optim.scheduler.param_scheduler import ParamScheduler
from kiln.registry import PARAM_SCHEDULERS

__all__ = [
    "ConstantLR", "LinearLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolyLR",
    "OneCycleLR", "bind_param_name", "make_bound_class",
]


def bind_param_name(base: type[ParamScheduler], param_name: str, name: str, module: str) -> type[ParamScheduler]:
    """A subclass of ``base`` that always schedules ``param_name`` (and says so in its signature)."""

    def __init__(self: ParamScheduler, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, optimizer, param_name, *args, **kwargs)

    return make_bound_class(base, param_name, name, module, {"__init__": __init__})


def make_bound_class(base: type[ParamScheduler], param_name: str, name: str, module: str,
                     namespace: dict[str, Any]) -> type[ParamScheduler]:
    """Create the class; its ``__init__`` advertises ``base``'s signature without ``param_name``."""
    signature = inspect.signature(base.__init__)
    namespace["__init__"].__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "param_name"])
    doc = f"{base.__name__} applied to ``{param_name!r}``.\n\n{inspect.getdoc(base) or ''}"
    return type(name, (base,), {**namespace, "__doc__": doc, "__module__": module})


def _lr(base: type[ParamScheduler], name: str) -> type[ParamScheduler]:
    return PARAM_SCHEDULERS.register_module(module=bind_param_name(base, "lr", name, __name__))


ConstantLR = _lr(schedules.ConstantParamScheduler, "ConstantLR")
LinearLR = _lr(schedules.LinearParamScheduler, "LinearLR")
StepLR = _lr(schedules.StepParamScheduler, "StepLR")
MultiStepLR = _lr(schedules.MultiStepParamScheduler, "MultiStepLR")
ExponentialLR = _lr(schedules.ExponentialParamScheduler, "ExponentialLR")
CosineAnnealingLR = _lr(schedules.CosineAnnealingParamScheduler, "CosineAnnealingLR")
PolyLR = _lr(schedules.PolyParamScheduler, "PolyLR")
OneCycleLR = _lr(schedules.OneCycleParamScheduler, "OneCycleLR")
