"""kiln: a fast, safe PyTorch training engine with OpenMMLab MMEngine's model API.

Top-level names are lazy (``from kiln import Config, MODELS, load, dump`` imports only what it
names), as ``import mmengine`` offers ``Config``, the root registries and ``fileio``'s load/dump.
"""

from typing import Any

from kiln import _moved
from kiln._lazy import attach
from kiln.version import __version__ as __version__

_moved.install()

_getattr, _dir, __all__ = attach(__name__, {
    "kiln.runner": ["Runner"],
    "kiln.config": ["Config", "ConfigDict", "DictAction", "read_base"],
    "kiln.registry": ["Registry", "build_from_cfg", "DefaultScope", "init_default_scope"],
    "kiln.fileio": ["load", "dump"],
    "kiln.utils": ["digit_version", "is_list_of", "is_seq_of", "is_str", "mkdir_or_exist"],
})


def __getattr__(name: str) -> Any:
    """The names above, and every root registry (``MODELS``, ``HOOKS``...) — looked up in
    ``kiln.registry.root`` only when asked for, so ``import kiln`` stays free."""
    try:
        return _getattr(name)
    except AttributeError:
        if name.isupper():
            from kiln.registry import root

            if name in root.__all__:
                return getattr(root, name)
        raise


def __dir__() -> list[str]:
    from kiln.registry import root

    return sorted([*_dir(), *root.__all__])
