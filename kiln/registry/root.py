"""The root registries: one per kind of configurable component, named as in MMEngine.

``locations`` are the kiln modules that register the built-in entries; they are imported on the
first lookup miss, so ``HOOKS.build(dict(type='CheckpointHook'))`` works before anyone imported
``kiln.hooks``.
"""

from __future__ import annotations

from kiln.registry.registry import Registry

__all__ = ["MODELS", "WEIGHT_INITIALIZERS", "MODEL_WRAPPERS", "OPTIMIZERS", "OPTIM_WRAPPERS", "OPTIM_WRAPPER_CONSTRUCTORS", "PARAM_SCHEDULERS", "HOOKS", "LOOPS", "METRICS", "EVALUATOR", "DATASETS", "TRANSFORMS", "DATA_SAMPLERS", "FUNCTIONS", "VISBACKENDS", "VISUALIZERS", "LOG_PROCESSORS", "RUNNERS"]


def _registry(name: str, *locations: str) -> Registry:
    return Registry(name, locations=locations)


# Root registries. ``locations`` are the kiln modules that register the built-in entries.
MODELS = _registry("model", "kiln.model.data_preprocessor", "kiln.model.averaged_model",
                   "kiln.model.test_time_aug")
WEIGHT_INITIALIZERS = _registry("weight initializer", "kiln.model.weight_init.initializers")
MODEL_WRAPPERS = _registry("model wrapper", "kiln.model.wrappers.distributed", "kiln.model.wrappers.utils")
OPTIMIZERS = _registry("optimizer", "kiln.optim.optimizers")
OPTIM_WRAPPERS = _registry("optim wrapper", "kiln.optim.optim_wrapper", "kiln.optim.amp_optim_wrapper",
                           "kiln.optim.optim_wrapper_dict")
OPTIM_WRAPPER_CONSTRUCTORS = _registry("optim wrapper constructor", "kiln.optim.builder",
                                        "kiln.optim.multi_constructor")
PARAM_SCHEDULERS = _registry("parameter scheduler", "kiln.optim.scheduler")
HOOKS = _registry(
    "hook",
    "kiln.hooks.runtime_info_hook", "kiln.hooks.iter_timer_hook", "kiln.hooks.sampler_seed_hook",
    "kiln.hooks.logger_hook", "kiln.hooks.param_scheduler_hook", "kiln.hooks.checkpoint_hook",
    "kiln.hooks.ema_hook",
    "kiln.hooks.early_stopping_hook", "kiln.hooks.profiler_hook", "kiln.hooks.empty_cache_hook",
    "kiln.hooks.sync_buffers_hook", "kiln.hooks.naive_visualization_hook", "kiln.hooks.prepare_tta_hook",
)
LOOPS = _registry("loop", "kiln.runner.loops")
METRICS = _registry("metric", "kiln.evaluator.dump_results")
EVALUATOR = _registry("evaluator", "kiln.evaluator.evaluator")
DATASETS = _registry("dataset", "kiln.dataset.base_dataset", "kiln.dataset.dataset_wrapper")
TRANSFORMS = _registry("transform", "kiln.dataset.transforms")
DATA_SAMPLERS = _registry("data sampler", "kiln.dataset.sampler")
FUNCTIONS = _registry("function", "kiln.dataset.collate")
VISBACKENDS = _registry("vis backend", "kiln.visualization.vis_backend", "kiln.visualization.wandb_backend",
                        "kiln.visualization.mlflow_backend")
VISUALIZERS = _registry("visualizer", "kiln.visualization.visualizer")
LOG_PROCESSORS = _registry("log processor", "kiln.runner.log_processor")
RUNNERS = _registry("runner", "kiln.runner.runner")
