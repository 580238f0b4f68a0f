"""``is_model_wrapper`` and ``unwrap_model``: the one way to reach the user's model behind a wrapper.

Also registers the lazy ``MMFullyShardedDataParallel`` and ``FSDP2`` entries, so ``model_wrapper_cfg=dict(
type='FSDP2')`` builds without importing ``torch.distributed.fsdp`` until then.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from kiln.model.wrappers.fsdp2_names import FSDP2_NAMES
from kiln.registry import MODEL_WRAPPERS, Registry

__all__ = ["is_model_wrapper", "unwrap_model", "FSDP2_NAMES"]


def is_model_wrapper(model: nn.Module, registry: Registry = MODEL_WRAPPERS) -> bool:
    """True if ``model`` is an instance of a class registered in ``registry`` (a wrapper).

    The Runner uses this to reach the user's model (``model.module``) for checkpoints and hooks.
    Wrappers registered in child registries (downstream packages) count too.
    """
    classes = tuple(c for c in registry.module_dict.values() if isinstance(c, type))
    return isinstance(model, classes) or any(is_model_wrapper(model, child)
                                             for child in registry.children.values())


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside any nesting of registered wrappers (DDP, FSDP, DataParallel...)."""
    while is_model_wrapper(model):
        model = model.module
    return model


def _build_fsdp(*args: Any, **kwargs: Any) -> nn.Module:
    """Registry entry that imports the real class (which then replaces this entry) and builds it."""
    from kiln.model.wrappers.fully_sharded import MMFullyShardedDataParallel

    return MMFullyShardedDataParallel(*args, **kwargs)


def _build_fsdp2(*args: Any, **kwargs: Any) -> nn.Module:
    """Registry entry for ``FSDP2`` / ``FullyShardWrapper`` (imports ``torch.distributed.fsdp`` then)."""
    from kiln.model.wrappers.fsdp2 import FullyShardWrapper

    return FullyShardWrapper(*args, **kwargs)


if "MMFullyShardedDataParallel" not in MODEL_WRAPPERS._module_dict:  # the real class may be first
    MODEL_WRAPPERS.register_module(name="MMFullyShardedDataParallel", module=_build_fsdp)
for _name in FSDP2_NAMES:
    if _name not in MODEL_WRAPPERS._module_dict:
        MODEL_WRAPPERS.register_module(name=_name, module=_build_fsdp2)
