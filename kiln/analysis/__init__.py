"""kiln.analysis: model complexity (FLOPs, activations, parameters per module), as ``mmengine.analysis``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "complexity": ["get_model_complexity_info"],
})
