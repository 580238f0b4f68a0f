"""Model and optimizer state of plain, DDP, FSDP1 and FSDP2 models, through one torch API.

``model.state_dict()`` is only correct for unsharded models: under FSDP1 it holds each rank's
flat shard, under FSDP2 DTensor shards. ``torch.distributed.checkpoint.state_dict``
(``get_model_state_dict``/``set_model_state_dict`` and the optimizer pair) knows every wrapper,
so a sharded model goes through it: a FULL state dict (gathered; kept on rank 0 only) for a
single-file checkpoint, or the sharded one for DCP (:mod:`kiln.checkpoint.dcp`).

Unsharded models keep ``module.state_dict()`` and ``optim_wrapper.state_dict()`` in single files,
so those files stay MMEngine's layout (integer-keyed optimizer state). Optimizer state of a
sharded model is keyed by parameter name (torch's "FQN" layout); :func:`load_optimizer_state`
reads both layouts.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kiln.errors import CheckpointError

__all__ = ["is_sharded", "is_fsdp1", "default_save_format", "full_model_state_dict", "full_optimizer_state_dict", "load_full_model_state",
           "load_optimizer_state", "state_dict_options"]

_OPTIM_KEYS = ("state", "param_groups")


def is_sharded(model: nn.Module) -> bool:
    """True when ``model`` (or a submodule) is FSDP1- or FSDP2-sharded.

    FSDP cannot be in use before ``torch.distributed.fsdp`` is imported, so an unsharded run never
    pays that import (~0.5 s) here.
    """
    if "torch.distributed.fsdp" not in sys.modules:
        return False
    from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel

    return any(isinstance(m, (FSDPModule, FullyShardedDataParallel)) for m in model.modules())


def is_fsdp1(model: nn.Module) -> bool:
    """True when ``model`` itself is an FSDP1 ``FullyShardedDataParallel`` (a root or a unit)."""
    if "torch.distributed.fsdp" not in sys.modules:
        return False
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def default_save_format(model: nn.Module) -> str:
    """``'dcp'`` for an FSDP2 model (sharded checkpoints), else ``'pth'`` (one file)."""
    if "torch.distributed.fsdp" not in sys.modules:
        return "pth"
    from torch.distributed.fsdp import FSDPModule

    return "dcp" if any(isinstance(m, FSDPModule) for m in model.modules()) else "pth"


def state_dict_options(model: nn.Module, full: bool, strict: bool = True, **kwargs: Any) -> Any:
    """``StateDictOptions`` for ``model``: full ones gather to rank 0 on the CPU.

    FSDP1 cannot offload tensors that are already on the CPU (torch 2.13 crashes in its
    ``offload_to_cpu`` clone), so CPU FSDP1 models gather without offload.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    from torch.distributed.fsdp import FullyShardedDataParallel

    offload = full
    if full and any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
        offload = any(p.device.type != "cpu" for p in model.parameters())
    return StateDictOptions(full_state_dict=full, cpu_offload=offload, strict=strict, **kwargs)


def full_model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The full state dict of a sharded model (a collective: call it on EVERY rank).

    Rank 0 gets every tensor on the CPU; other ranks may get an empty dict.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=state_dict_options(model, full=True))


def full_optimizer_state_dict(model: nn.Module, optim_wrapper: Any) -> dict[str, Any]:
    """The optimizer state of a sharded model, full and name-keyed, plus the wrapper's extras.

    Extras are what an optim wrapper adds to ``optimizer.state_dict()`` (``base_param_settings``,
    an AMP ``loss_scaler``). A collective: call it on every rank.
    """
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = optimizer_extras(optim_wrapper)
    state.update(get_optimizer_state_dict(model, optim_wrapper.optimizer,
                                          options=state_dict_options(model, full=True)))
    return state


def optimizer_extras(optim_wrapper: Any) -> dict[str, Any]:
    """What ``optim_wrapper.state_dict()`` holds besides the optimizer's ``state``/``param_groups``."""
    return {k: v for k, v in optim_wrapper.state_dict().items() if k not in _OPTIM_KEYS}


def load_full_model_state(model: nn.Module, state_dict: Mapping[str, Any], strict: bool) -> None:
    """Load a full (unsharded) state dict into a sharded model; every rank passes the same dict.

    Raises:
        CheckpointError: Keys or shapes do not match (``strict``), naming them.
    """
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    try:
        result = set_model_state_dict(model, dict(state_dict),
                                      options=state_dict_options(model, full=True, strict=strict))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint does not fit the sharded {type(model).__name__}: {exc}") from exc
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        from kiln.logging import print_log

        print_log(f"load: missing keys {missing[:10]}, unexpected keys {unexpected[:10]}",
                  logger="current", level=30)


def load_optimizer_state(model: nn.Module, optim_wrapper: Any, state: Mapping[str, Any],
                         full: bool = True) -> None:
    """Restore an optim wrapper from either layout: MMEngine's (integer ids) or name-keyed.

    A name-keyed state (saved from a sharded model, or from DCP) goes through
    ``set_optimizer_state_dict``, which reshards it to this run's parameters; the wrapper then
    reloads its own optimizer state together with the saved extras (one code path for them).
    """
    if not _name_keyed(state):
        optim_wrapper.load_state_dict(dict(state))
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    optimizer = optim_wrapper.optimizer
    set_optimizer_state_dict(model, optimizer, {k: state[k] for k in _OPTIM_KEYS},
                             options=state_dict_options(model, full=full))
    extras = {k: v for k, v in state.items() if k not in _OPTIM_KEYS}
    optim_wrapper.load_state_dict({**optimizer.state_dict(), **extras})


def _name_keyed(state: Mapping[str, Any]) -> bool:
    groups = state.get("param_groups") or []
    params = [p for g in groups for p in g.get("params", [])]
    return bool(params) and all(isinstance(p, str) for p in params)


def check_optimizer_wrapper(optim_wrapper: Any, what: str) -> None:
    """Sharded optimizer state needs ONE optimizer (``optim_wrapper.optimizer``)."""
    if not isinstance(getattr(optim_wrapper, "optimizer", None), torch.optim.Optimizer):
        raise CheckpointError(f"{what}: the optimizer state of a sharded model is saved through "
                              "torch.distributed.checkpoint, which needs one optimizer "
                              f"(optim_wrapper.optimizer), but {type(optim_wrapper).__name__} has none")
