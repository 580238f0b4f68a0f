"""The root registries: one per kind of configurable component, named as in MMEngine.

``locations`` are the kiln modules that register the built-in entries; they are imported on the
first lookup miss, so ``HOOKS.build(dict(type='CheckpointHook'))`` works before anyone imported
``kiln.hooks``. Their scope is ``'kiln'`` (``'mmengine'`` names them too); a downstream package
hangs its own registries below them with ``Registry('model', parent=MODELS)``.
"""

from __future__ import annotations

from kiln.registry.registry import Registry

__all__ = [
    "RUNNERS", "RUNNER_CONSTRUCTORS", "LOOPS", "HOOKS", "STRATEGIES", "DATASETS", "DATA_SAMPLERS",
    "TRANSFORMS", "MODELS", "WEIGHT_INITIALIZERS", "OPTIMIZERS", "OPTIM_WRAPPERS",
    "OPTIM_WRAPPER_CONSTRUCTORS", "PARAM_SCHEDULERS", "METRICS", "EVALUATOR", "TASK_UTILS",
    "VISUALIZERS", "VISBACKENDS", "LOG_PROCESSORS", "INFERENCERS", "FUNCTIONS", "MODEL_WRAPPERS",
]


def _registry(name: str, *locations: str) -> Registry:
    return Registry(name, scope="kiln", locations=locations)


RUNNERS = _registry("runner", "kiln.runner.runner")
RUNNER_CONSTRUCTORS = _registry("runner constructor")
LOOPS = _registry("loop", "kiln.runner.loops")
HOOKS = _registry(
    "hook",
    "kiln.hooks.runtime_info_hook", "kiln.hooks.iter_timer_hook", "kiln.hooks.sampler_seed_hook",
    "kiln.hooks.logger_hook", "kiln.hooks.param_scheduler_hook", "kiln.hooks.checkpoint_hook",
    "kiln.hooks.ema_hook",
    "kiln.hooks.early_stopping_hook", "kiln.hooks.profiler_hook", "kiln.hooks.empty_cache_hook",
    "kiln.hooks.sync_buffers_hook", "kiln.hooks.naive_visualization_hook", "kiln.hooks.prepare_tta_hook",
)
STRATEGIES = _registry("strategy")
DATASETS = _registry("dataset", "kiln.dataset.base_dataset", "kiln.dataset.dataset_wrapper")
DATA_SAMPLERS = _registry("data sampler", "kiln.dataset.sampler")
TRANSFORMS = _registry("transform", "kiln.dataset.transforms")
MODELS = _registry("model", "kiln.model.data_preprocessor", "kiln.model.averaged_model",
                   "kiln.model.test_time_aug")
WEIGHT_INITIALIZERS = _registry("weight initializer", "kiln.model.weight_init.initializers")
OPTIMIZERS = _registry("optimizer", "kiln.optim.optimizers")
OPTIM_WRAPPERS = _registry("optim wrapper", "kiln.optim.optim_wrapper", "kiln.optim.amp_optim_wrapper",
                           "kiln.optim.optim_wrapper_dict")
OPTIM_WRAPPER_CONSTRUCTORS = _registry("optim wrapper constructor", "kiln.optim.builder",
                                        "kiln.optim.multi_constructor")
PARAM_SCHEDULERS = _registry("parameter scheduler", "kiln.optim.scheduler")
METRICS = _registry("metric", "kiln.evaluator.dump_results")
EVALUATOR = _registry("evaluator", "kiln.evaluator.evaluator")
TASK_UTILS = _registry("task util")
VISUALIZERS = _registry("visualizer", "kiln.visualization.visualizer")
VISBACKENDS = _registry("vis backend", "kiln.visualization.vis_backend", "kiln.visualization.wandb_backend",
                        "kiln.visualization.mlflow_backend")
LOG_PROCESSORS = _registry("log processor", "kiln.runner.log_processor")
INFERENCERS = _registry("inferencer")
FUNCTIONS = _registry("function", "kiln.dataset.collate")
MODEL_WRAPPERS = _registry("model wrapper", "kiln.model.wrappers.distributed", "kiln.model.wrappers.utils")
