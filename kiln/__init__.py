"""kiln: a fast, safe PyTorch training engine with OpenMMLab MMEngine's model API."""

from kiln import _moved
from kiln._lazy import attach

__version__ = "0.1.0"

_moved.install()

__getattr__, __dir__, __all__ = attach(__name__, {
    "runner": ["Runner"],
    "config": ["Config"],
    "registry": ["Registry"],
})
