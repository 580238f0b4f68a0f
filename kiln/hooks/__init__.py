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
    "early_stopping_hook": ["EarlyStoppingHook"],
    "profiler_hook": ["ProfilerHook"],
    "empty_cache_hook": ["EmptyCacheHook"],
    "sync_buffers_hook": ["SyncBuffersHook"],
    "naive_visualization_hook": ["NaiveVisualizationHook"],
    "prepare_tta_hook": ["PrepareTTAHook"],
})
