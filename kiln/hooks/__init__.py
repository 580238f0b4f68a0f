"""Hooks: one file each. ``Hook`` is the base; the defaults are registered in ``HOOKS``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "hook": ["Hook", "Priority", "get_priority"],
    "runtime_info_hook": ["RuntimeInfoHook"],
    "iter_timer_hook": ["IterTimerHook"],
    "sampler_seed_hook": ["DistSamplerSeedHook"],
    "logger_hook": ["LoggerHook"],
    "param_scheduler_hook": ["ParamSchedulerHook"],
    "checkpoint_hook": ["CheckpointHook"],
    "ema_hook": ["EMAHook"],
})
