"""Registries: map the ``type`` of a config dict to the class or function that builds it.

``registry`` holds the :class:`Registry` class and ``build_from_cfg``; ``root`` the root
registries (``MODELS``, ``HOOKS``...). Both are cheap and imported eagerly: every module that
registers something imports this package.
"""

from kiln.registry.registry import Registry, build_from_cfg, check_arguments
from kiln.registry.root import *  # noqa: F403
from kiln.registry.root import __all__ as _ROOT

__all__ = ["Registry", "build_from_cfg", "check_arguments", *_ROOT]
