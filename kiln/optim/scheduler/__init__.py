"""Parameter schedulers (lr, momentum, any param-group key) with MMEngine's begin/end/by_epoch semantics.

Importing this package registers every scheduler in ``PARAM_SCHEDULERS``.
"""

from kiln.optim.scheduler.builder import build_param_schedulers
from kiln.optim.scheduler.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    PolyLR,
    StepLR,
)
from kiln.optim.scheduler.momentum_scheduler import (
    ConstantMomentum,
    CosineAnnealingMomentum,
    ExponentialMomentum,
    LinearMomentum,
    MultiStepMomentum,
    PolyMomentum,
    StepMomentum,
)
from kiln.optim.scheduler.param_scheduler import INF, ParamScheduler
from kiln.optim.scheduler.reduce_on_plateau import (
    ReduceOnPlateauLR,
    ReduceOnPlateauMomentum,
    ReduceOnPlateauParamScheduler,
)
from kiln.optim.scheduler.schedules import (
    ConstantParamScheduler,
    CosineAnnealingParamScheduler,
    ExponentialParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    OneCycleParamScheduler,
    PolyParamScheduler,
    StepParamScheduler,
)

# MMEngine's name of the base class (``from mmengine.optim.scheduler import _ParamScheduler``).
_ParamScheduler = ParamScheduler

__all__ = [
    "INF", "ParamScheduler", "_ParamScheduler", "build_param_schedulers",
    "ConstantLR", "LinearLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolyLR", "OneCycleLR",
    "ConstantMomentum", "LinearMomentum", "StepMomentum", "MultiStepMomentum", "ExponentialMomentum",
    "CosineAnnealingMomentum", "PolyMomentum",
    "ConstantParamScheduler", "LinearParamScheduler", "StepParamScheduler", "MultiStepParamScheduler",
    "ExponentialParamScheduler", "CosineAnnealingParamScheduler", "PolyParamScheduler", "OneCycleParamScheduler",
    "ReduceOnPlateauParamScheduler", "ReduceOnPlateauLR", "ReduceOnPlateauMomentum",
]
