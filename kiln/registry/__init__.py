"""Registries: map the ``type`` of a config dict to the class or function that builds it.

``registry`` holds the :class:`Registry` class (trees of scoped registries), ``build_functions``
``build_from_cfg``/``check_arguments``, ``default_scope`` the :class:`DefaultScope`, ``root`` the
root registries (``MODELS``, ``HOOKS``...). All cheap and imported eagerly: every module that
registers something imports this package.
"""

from kiln.registry.build_functions import build_from_cfg, check_arguments, reject_unknown_kwargs
from kiln.registry.default_scope import DefaultScope, init_default_scope
from kiln.registry.registry import Registry, split_scope_key
from kiln.registry.root import *  # noqa: F403
from kiln.registry.root import __all__ as _ROOT

__all__ = ["Registry", "build_from_cfg", "check_arguments", "reject_unknown_kwargs", "DefaultScope", "init_default_scope",
           "split_scope_key", *_ROOT]
