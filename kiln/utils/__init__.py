"""Small helpers downstream code imports (MMEngine's ``mmengine.utils``)."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "progressbar": ["ProgressBar"],
    "manager": ["ManagerMixin"],
})
