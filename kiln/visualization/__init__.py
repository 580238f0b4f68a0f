"""Visualization: the ``Visualizer``, its backends (local files, TensorBoard, W&B, MLflow) and
``curves.png``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "visualizer": ["Visualizer"],
    "vis_backend": ["BaseVisBackend", "LocalVisBackend", "TensorboardVisBackend"],
    "wandb_backend": ["WandbVisBackend"],
    "mlflow_backend": ["MLflowVisBackend"],
    "curves": ["CurveRecorder", "plot_curves"],
})
