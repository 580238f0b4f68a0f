"""Old module paths of modules that moved in 0.2, kept importable for one release.

``import kiln.runner.sampler`` still works and hands out the module now at
``kiln.dataset.sampler`` (the same object, so classes and registries are shared), with a
``DeprecationWarning`` naming the new path. Installed by ``kiln/__init__``; costs nothing until
an old path is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {
    "kiln.runner.sampler": "kiln.dataset.sampler",
    "kiln.runner.collate": "kiln.dataset.collate",
    "kiln.runner.data": "kiln.dataset.dataloader",
    "kiln.runner.message_hub": "kiln.logging.message_hub",
    "kiln.runner.visualizer": "kiln.visualization.visualizer",
    "kiln.runner.vis_backend": "kiln.visualization.vis_backend",
    "kiln.runner.curves": "kiln.visualization.curves",
    "kiln.runner.progress": "kiln.utils.progressbar",
    "kiln.runner.rng": "kiln.checkpoint.rng",
    "kiln.model.fsdp_wrapper": "kiln.model.wrappers.fully_sharded",
    "kiln.model.init_cfg": "kiln.model.weight_init.compile",
    "kiln.model.init_functions": "kiln.model.weight_init.functions",
    "kiln.model.init_report": "kiln.model.weight_init.report",
}


class _SameModuleLoader(importlib.abc.Loader):
    """Returns the module at its new path instead of creating a second copy."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec  # the import system stamped the old-path spec on it; undo


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        return importlib.machinery.ModuleSpec(fullname, _SameModuleLoader(module),
                                              is_package=hasattr(module, "__path__"))


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
