"""Deep-learning environment helpers (MMEngine's ``mmengine.utils.dl_utils``)."""

import torch

from kiln._lazy import attach

TORCH_VERSION: str = torch.__version__

__getattr__, _dir, _names = attach(__name__, {"collect_env": ["collect_env"]})
__all__ = ["TORCH_VERSION", *_names]


def __dir__() -> list[str]:
    return sorted(__all__)
