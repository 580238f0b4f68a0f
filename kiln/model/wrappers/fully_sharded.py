"""FSDP with the BaseModel step API and config-friendly arguments (strings and dicts).

Imported only when used (``torch.distributed.fsdp`` costs ~0.5 s to import). Config values may be
plain strings/dicts, e.g. ``sharding_strategy='SHARD_GRAD_OP'``,
``mixed_precision=dict(param_dtype='bfloat16')``, ``auto_wrap_policy=dict(type='size_based_auto_wrap_policy',
min_num_params=1e6)`` (names are looked up in ``kiln.registry.FUNCTIONS``, then in
``torch.distributed.fsdp.wrap``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.distributed.fsdp import (
    BackwardPrefetch,
    CPUOffload,
    FullyShardedDataParallel,
    MixedPrecision,
    ShardingStrategy,
)
from torch.distributed.fsdp import wrap as fsdp_wrap

from kiln.errors import ConfigError
from kiln.model.train_step import predict_step, train_step
from kiln.registry import FUNCTIONS, MODEL_WRAPPERS

__all__ = ["MMFullyShardedDataParallel", "parse_dtype", "broadcast_from_rank0", "initialize_once"]


def _enum(enum_cls: type, value: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return enum_cls[value.upper()]
    except KeyError:
        names = ", ".join(enum_cls.__members__)
        raise ConfigError(key, f"{value!r} is not a {enum_cls.__name__}; expected one of: {names}") from None


def _function(value: Any, key: str) -> Callable | None:
    """A callable given as itself, a registered/torch name, or ``dict(type=name, **partial_kwargs)``."""
    if value is None or (callable(value) and not isinstance(value, Mapping)):
        return value
    kwargs: dict[str, Any] = {}
    if isinstance(value, Mapping):
        kwargs = dict(value)
        if "type" not in kwargs:
            raise ConfigError(key, f"a dict needs a 'type' key naming the function, but got keys {sorted(kwargs)}")
        value = kwargs.pop("type")
    if isinstance(value, str):
        fn = FUNCTIONS.get(value) or getattr(fsdp_wrap, value, None)
        if fn is None:
            raise ConfigError(f"{key}.type" if kwargs else key,
                              f"{value!r} is neither registered in kiln.registry.FUNCTIONS nor a "
                              "torch.distributed.fsdp.wrap function")
    elif callable(value):
        fn = value
    else:
        raise ConfigError(key, f"expected a callable, a name or a dict with 'type', but got {type(value).__name__}")
    return functools.partial(fn, **kwargs) if kwargs else fn


def parse_dtype(value: Any, key: str) -> Any:
    """A ``torch.dtype`` as is, or its name (``'bfloat16'``, ``'torch.float32'``)."""
    if not isinstance(value, str):
        return value
    dtype = getattr(torch, value.replace("torch.", ""), None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(key, f"{value!r} is not a torch dtype (e.g. 'float16', 'bfloat16', 'float32')")
    return dtype


def initialize_once(module: nn.Module) -> None:
    """``module.init_weights()`` unless ``is_init``; then mark it initialized, so that the Runner's
    own init step (which would re-init and broadcast per-rank shards) skips it."""
    if callable(getattr(module, "init_weights", None)) and not getattr(module, "is_init", False):
        module.init_weights()
    module.is_init = True


def broadcast_from_rank0(module: nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers (what DDP does at construction).

    One broadcast per tensor, once, before sharding; tensors are staged on the backend's device
    (``kiln.dist.get_device()``) when they live elsewhere.
    """
    import torch.distributed as torch_dist

    from kiln.dist import get_device

    device = get_device()
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            staged = tensor.data.to(device)
            torch_dist.broadcast(staged, src=0)
            if staged is not tensor.data:
                tensor.data.copy_(staged)


def _mixed_precision(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    fields = ("param_dtype", "reduce_dtype", "buffer_dtype")
    return MixedPrecision(**{k: parse_dtype(v, f"mixed_precision.{k}") if k in fields else v for k, v in value.items()})


def _by_name(module: nn.Module, items: Any, key: str, named: Callable[[], Any]) -> Any:
    """Let ``ignored_parameters`` / ``ignored_modules`` name their items."""
    if items is None or not any(isinstance(i, str) for i in items):
        return items
    table = dict(named())
    missing = [i for i in items if isinstance(i, str) and i not in table]
    if missing:
        raise ConfigError(key, f"{missing} not found in {type(module).__name__}")
    return [table[i] if isinstance(i, str) else i for i in items]


@MODEL_WRAPPERS.register_module(force=True)  # replaces the lazy factory registered by wrappers.py
class MMFullyShardedDataParallel(FullyShardedDataParallel):
    """FullyShardedDataParallel whose steps enter through the FSDP root (nested units need it).

    Arguments are those of ``FullyShardedDataParallel``; the ones below also accept config forms.

    Args:
        sharding_strategy: A ``ShardingStrategy`` or its name (``'FULL_SHARD'``).
        cpu_offload: A ``CPUOffload``, a bool (offload parameters) or a dict of its arguments.
        auto_wrap_policy, param_init_fn: A callable, a name, or ``dict(type=name, **kwargs)``.
        backward_prefetch: A ``BackwardPrefetch`` or its name (``'BACKWARD_PRE'``).
        mixed_precision: A ``MixedPrecision`` or a dict with dtype names.
        use_orig_params: Default True, so optimizers and paramwise settings see the original names.
        device_id: Default: this rank's device (``kiln.dist.get_device()``; FSDP1 refuses a CPU
            run without it).
        sync_module_states: Default False: kiln broadcasts rank 0's weights itself before
            wrapping (torch's option needs the module on a GPU).

    The module's ``init_weights()`` runs here, on the full tensors before they are flattened and
    sharded (unless ``module.is_init``); the Runner then skips it. Gradient clipping by norm
    through the optim wrapper uses FSDP1's own ``clip_grad_norm_`` (the total norm over all
    shards; ``torch.nn.utils.clip_grad_norm_`` would see only this rank's shard).
    """

    __kwargs_forwarded_to__ = FullyShardedDataParallel  # check_arguments checks **kwargs against it

    def __init__(
        self,
        module: nn.Module,
        process_group: Any = None,
        sharding_strategy: Any = None,
        cpu_offload: Any = None,
        auto_wrap_policy: Any = None,
        backward_prefetch: Any = None,
        mixed_precision: Any = None,
        param_init_fn: Any = None,
        use_orig_params: bool = True,
        device_id: Any = None,
        sync_module_states: bool = False,
        **kwargs: Any,
    ) -> None:
        from kiln.dist import get_device

        if isinstance(cpu_offload, bool):
            cpu_offload = CPUOffload(offload_params=cpu_offload)
        elif isinstance(cpu_offload, Mapping):
            cpu_offload = CPUOffload(**cpu_offload)
        for key, named in (("ignored_parameters", module.named_parameters), ("ignored_modules", module.named_modules)):
            if key in kwargs:
                kwargs[key] = _by_name(module, kwargs[key], key, named)
        parsed = dict(  # every config value checked before anything changes or communicates
            sharding_strategy=_enum(ShardingStrategy, sharding_strategy, "sharding_strategy"),
            auto_wrap_policy=_function(auto_wrap_policy, "auto_wrap_policy"),
            backward_prefetch=_enum(BackwardPrefetch, backward_prefetch, "backward_prefetch"),
            mixed_precision=_mixed_precision(mixed_precision),
            param_init_fn=_function(param_init_fn, "param_init_fn"),
        )
        initialize_once(module)  # on full tensors: fans, the init report and Pretrained need them
        if not sync_module_states:
            broadcast_from_rank0(module)
        super().__init__(
            module,
            process_group=process_group,
            cpu_offload=cpu_offload,
            use_orig_params=use_orig_params,
            device_id=get_device() if device_id is None else device_id,
            sync_module_states=sync_module_states,
            **parsed,
            **kwargs,
        )

    def train_step(self, data: Any, optim_wrapper: Any) -> Any:
        """Like :meth:`BaseModel.train_step`, through the FSDP root's forward."""
        return train_step(self.module, data, optim_wrapper, wrapper=self)

    def val_step(self, data: Any) -> Any:
        """Predictions, through the FSDP root (it gathers the sharded parameters)."""
        return predict_step(self.module, data, wrapper=self)

    def test_step(self, data: Any) -> Any:
        """Same as :meth:`val_step`."""
        return self.val_step(data)
