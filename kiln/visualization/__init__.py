"""Visualization: the ``Visualizer``, its backends (local files, TensorBoard) and ``curves.png``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "visualizer": ["Visualizer"],
    "vis_backend": ["BaseVisBackend", "LocalVisBackend", "TensorboardVisBackend"],
    "curves": ["CurveRecorder", "plot_curves"],
})
