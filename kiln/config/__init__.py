"""Config files and dicts: ``Config`` (attribute access, ``fromfile``, ``dump``), ``ConfigDict``,
``DictAction`` (argparse ``--cfg-options``) and ``read_base`` (pure-Python configs)."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "config": ["Config", "ConfigDict"],
    "dict_action": ["DictAction"],
    "python_config": ["read_base"],
})
