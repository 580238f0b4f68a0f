"""kiln: a fast, safe PyTorch training engine with OpenMMLab MMEngine's model API.

Top-level names are lazy (``from kiln import Config, MODELS, load, dump`` imports only what it
names), as ``import mmengine`` offers ``Config``, the root registries and ``fileio``'s load/dump.
"""

from kiln import _moved
from kiln._lazy import attach
from kiln.registry.root import __all__ as _ROOT_REGISTRIES
from kiln.version import __version__ as __version__

_moved.install()

__getattr__, __dir__, __all__ = attach(__name__, {
    "kiln.runner": ["Runner"],
    "kiln.config": ["Config", "ConfigDict"],
    "kiln.registry": ["Registry", "build_from_cfg", *_ROOT_REGISTRIES],
    "kiln.fileio": ["load", "dump"],
    "kiln.utils": ["digit_version", "is_list_of", "is_seq_of", "is_str", "mkdir_or_exist"],
})
