"""kiln.optim: optim wrappers (accumulation, clipping, AMP), their builder, and parameter schedulers."""

from kiln._lazy import attach

_SCHEDULERS = [
    "INF", "ParamScheduler", "_ParamScheduler", "build_param_schedulers",
    "ConstantLR", "LinearLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolyLR", "OneCycleLR",
    "ConstantMomentum", "LinearMomentum", "StepMomentum", "MultiStepMomentum", "ExponentialMomentum",
    "CosineAnnealingMomentum", "PolyMomentum",
    "ConstantParamScheduler", "LinearParamScheduler", "StepParamScheduler", "MultiStepParamScheduler",
    "ExponentialParamScheduler", "CosineAnnealingParamScheduler", "PolyParamScheduler", "OneCycleParamScheduler",
    "ReduceOnPlateauParamScheduler", "ReduceOnPlateauLR", "ReduceOnPlateauMomentum",
]

__getattr__, __dir__, __all__ = attach(__name__, {
    "optim_wrapper": ["OptimWrapper"],
    "amp_optim_wrapper": ["AmpOptimWrapper"],
    "optim_wrapper_dict": ["OptimWrapperDict"],
    "builder": ["build_optim_wrapper"],
    "multi_constructor": ["MultiOptimWrapperConstructor"],
    "default_constructor": ["DefaultOptimWrapperConstructor"],
    "scheduler": _SCHEDULERS,
})
