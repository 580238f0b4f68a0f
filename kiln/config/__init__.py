"""Config files and dicts: ``Config`` (attribute access, ``fromfile``) and ``ConfigDict``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "config": ["Config", "ConfigDict"],
})
