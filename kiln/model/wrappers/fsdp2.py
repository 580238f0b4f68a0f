"""FSDP2 (``torch.distributed.fsdp.fully_shard``) as a model wrapper with the BaseModel step API.

``model_wrapper_cfg=dict(type='FSDP2', ...)`` shards the model with torch's own ``fully_shard``
(parameters become DTensors); kiln only turns plain config values into torch's objects, decides
which submodules become their own sharding unit, and initializes the weights at the right moment:

- a model built on the ``meta`` device (the Runner does this when ``model`` is a config dict) is
  sharded first, then materialized with ``to_empty``, then every submodule's ``reset_parameters()``
  runs (torch's default init, BatchNorm running stats), then ``init_weights()`` runs on the shards;
- a model that already holds weights gets ``init_weights()`` (unless ``is_init``) on the full
  tensors, rank 0's weights broadcast (as DDP does), and is sharded afterwards.

Every argument is checked (a :class:`~kiln.errors.ConfigError` naming ``model_wrapper_cfg.<key>``)
before the device mesh is created or any collective runs.

Example:
    >>> model_wrapper_cfg = dict(
    ...     type='FSDP2', wrap=['TransformerEncoderLayer'],
    ...     mp_policy=dict(param_dtype='bfloat16', reduce_dtype='float32'))
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, fully_shard
from torch.distributed.tensor import DTensor

from kiln import dist
from kiln.errors import ConfigError
from kiln.model.train_step import train_step
from kiln.model.wrappers.fsdp2_config import parse_fsdp2_options
from kiln.model.wrappers.fsdp2_names import FSDP2_NAMES
from kiln.model.wrappers.fully_sharded import broadcast_from_rank0, initialize_once
from kiln.registry import MODEL_WRAPPERS

__all__ = ["FullyShardWrapper", "select_modules", "materialize_meta_module", "check_buffers_recreated"]

_KEY = "model_wrapper_cfg"


# -- choosing the sharding units ---------------------------------------------------------------
def _class_names(module: nn.Module) -> set[str]:
    return {type(module).__name__, *(base.__name__ for base in type(module).__bases__)}


def select_modules(module: nn.Module, names: Sequence[str] | None, key: str) -> list[nn.Module]:
    """Submodules (never ``module`` itself) whose class (or a direct base) is named in ``names``.

    ``names=None``: every direct child that holds parameters, looking through ``ModuleList`` /
    ``ModuleDict`` (containers are never called, so their forward hooks would never fire).
    A name that matches nothing is a :class:`ConfigError` with the class names that exist.
    """
    if names is None:
        return list(_default_units(module))
    present: set[str] = set()
    chosen = []
    for sub in list(module.modules())[1:]:
        classes = _class_names(sub)
        present |= classes
        if classes & set(names):
            chosen.append(sub)
    missing = [n for n in names if n not in present]
    if missing:
        close = {n: difflib.get_close_matches(n, sorted(present), n=1) for n in missing}
        hints = "; ".join(f"did you mean {c[0]!r} for {n!r}?" for n, c in close.items() if c)
        raise ConfigError(key, f"no submodule of {type(module).__name__} is a {missing} "
                               f"(its submodule classes: {sorted(present)}){'; ' + hints if hints else ''}")
    return chosen


def _default_units(module: nn.Module) -> Iterator[nn.Module]:
    for child in module.children():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            yield from _default_units(child)
        elif any(True for _ in child.parameters()):
            yield child


# -- meta-device materialization -----------------------------------------------------------------
def _on_meta(module: nn.Module) -> bool:
    return any(t.is_meta for t in [*module.parameters(), *module.buffers()])


def _user_init_weights(module: nn.Module) -> bool:
    from kiln.model.base_module import BaseModule

    fn = getattr(type(module), "init_weights", None)
    return callable(fn) and fn is not BaseModule.init_weights


def check_buffers_recreated(module: nn.Module) -> None:
    """Refuse a meta-built model whose buffers nothing would fill after ``to_empty``.

    ``to_empty`` leaves every meta buffer uninitialized (registered constants, BatchNorm
    statistics). A meta buffer is re-created when its module, or a module above it, defines
    ``reset_parameters()`` or its own ``init_weights()``; anything else would silently train on
    garbage. Buffers that hold real values (a data preprocessor built off meta) are kept.
    """
    covered: set[int] = set()
    for name, sub in module.named_modules():
        if id(sub) in covered or callable(getattr(sub, "reset_parameters", None)) or _user_init_weights(sub):
            covered.update(id(m) for m in sub.modules())
            continue
        buffers = [b for b, t in sub._buffers.items() if t is not None and t.is_meta]
        if buffers:
            where = name or type(module).__name__
            raise RuntimeError(
                f"{where} ({type(sub).__name__}) has buffer(s) {buffers} that would hold uninitialized "
                "memory after the meta-device model is materialized: define "
                f"{type(sub).__name__}.reset_parameters() (or init_weights()) that fills them, "
                "or pass a built model instead of a config")


def materialize_meta_module(module: nn.Module, device: torch.device) -> None:
    """``to_empty(device)`` then every submodule's ``reset_parameters()``, children before parents.

    Under FSDP2 the parameters are DTensors: torch's init functions fill each rank's shard, with
    fans computed from the global shape and random values drawn from one global stream. Buffers
    that were not on meta keep their values (``to_empty`` would discard them).
    """
    real = [(sub, name, t) for sub in module.modules() for name, t in sub._buffers.items()
            if t is not None and not t.is_meta]
    module.to_empty(device=device)
    with torch.no_grad():
        for sub, name, value in real:
            sub._buffers[name] = value.to(device)
        for sub in reversed(list(module.modules())):  # children before their parents
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()


def _activation_checkpoint(modules: Sequence[nn.Module]) -> None:
    """Recompute these modules' activations in backward (torch's composable ``checkpoint``, which
    keeps parameter names unchanged, unlike ``checkpoint_wrapper``)."""
    from torch.distributed._composable import checkpoint

    for sub in modules:
        checkpoint(sub)


@MODEL_WRAPPERS.register_module(name=list(FSDP2_NAMES), force=True)  # replaces the lazy entries of utils.py
class FullyShardWrapper(nn.Module):
    """Shards ``module`` with FSDP2's ``fully_shard``; ``train_step``/``val_step``/``test_step`` as DDP's.

    Args:
        module: A :class:`kiln.model.BaseModel`, built or on the ``meta`` device.
        mesh: None (1-D over the world), a ``DeviceMesh``, or ``dict(shape=(R, S),
            names=('replicate', 'shard'))`` for HSDP (replicate over R groups of S shards).
        reshard_after_forward: Free the gathered parameters after forward (re-gather in
            backward): less memory, one more all-gather per unit.
        mp_policy: ``dict(param_dtype='bfloat16', reduce_dtype='float32', output_dtype=None,
            cast_forward_inputs=True)`` or a ``MixedPrecisionPolicy``.
        offload_policy: ``'cpu'`` (or ``dict(type='cpu', pin_memory=False)``) keeps the sharded
            parameters, gradients and optimizer state on the CPU.
        wrap: Class names whose instances get their own ``fully_shard`` (one all-gather per
            unit). Default: every direct child that holds parameters. The root is always sharded.
        activation_checkpointing: Class names whose activations are recomputed in backward, or
            True for the ``wrap`` units.
    """

    def __init__(self, module: nn.Module, mesh: Any = None, reshard_after_forward: bool = True,
                 mp_policy: Any = None, offload_policy: Any = None, wrap: Any = None,
                 activation_checkpointing: Any = None) -> None:
        # 1. every check first: nothing below may fail on a config value
        opts = parse_fsdp2_options(mesh, reshard_after_forward, mp_policy, offload_policy, wrap,
                                   activation_checkpointing, world_size=dist.get_world_size())
        units = select_modules(module, opts.wrap, f"{_KEY}.wrap")
        ac = opts.activation_checkpointing
        ac_units = units if ac is True else select_modules(module, ac, f"{_KEY}.activation_checkpointing") \
            if ac else []
        on_meta = _on_meta(module)
        if on_meta:
            check_buffers_recreated(module)
        super().__init__()
        offload = isinstance(opts.offload_policy, CPUOffloadPolicy)
        device = torch.device("cpu") if offload else dist.get_device()
        # 2. a built model: initialized whole, rank 0's weights everywhere, then sharded
        if not on_meta:
            module.to(device)
            initialize_once(module)
            broadcast_from_rank0(module)
        # 3. shard: the units, then the root
        device_mesh = self._device_mesh(opts.mesh)
        _activation_checkpoint(ac_units)
        shard_args = dict(mesh=device_mesh, reshard_after_forward=opts.reshard_after_forward,
                          mp_policy=opts.mp_policy, offload_policy=opts.offload_policy)
        for unit in reversed(units):  # nested units: the inner ones first, as fully_shard needs
            fully_shard(unit, **shard_args)
        fully_shard(module, **shard_args)
        # 4. a meta model: memory for this rank's shards only, then torch's and kiln's init
        if on_meta:
            materialize_meta_module(module, device)
            initialize_once(module)
        self.module = module
        self.device_mesh = device_mesh
        self._grad_sync = True
        self._checked_optimizers: set[int] = set()

    @staticmethod
    def _device_mesh(mesh: Any) -> DeviceMesh:
        if isinstance(mesh, DeviceMesh):
            return mesh
        device_type = dist.get_device().type
        if mesh is None:
            return init_device_mesh(device_type, (dist.get_world_size(),))
        shape, names = mesh
        return init_device_mesh(device_type, shape, mesh_dim_names=names)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    # -- gradient sync on accumulation steps ------------------------------------------------------
    def set_requires_gradient_sync(self, requires: bool) -> None:
        """Whether the next backward reduce-scatters gradients (False: accumulate them unsharded)."""
        self._grad_sync = requires
        self.module.set_requires_gradient_sync(requires)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes run inside skip the reduce-scatter (FSDP2 reads the flag in backward,
        so the block must contain the backward; the optim wrapper's per-forward context is
        covered by :meth:`train_step` setting the flag for the whole step)."""
        previous = self._grad_sync
        self.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            self.set_requires_gradient_sync(previous)

    # -- steps ------------------------------------------------------------------------------------------
    def train_step(self, data: Any, optim_wrapper: Any) -> Any:
        """Like :meth:`BaseModel.train_step`; gradients are reduce-scattered in backward, except on
        accumulation-only steps (``optim_wrapper.should_sync()`` False), whose gradients stay local."""
        self._check_optimizer(optim_wrapper)
        should_sync = getattr(optim_wrapper, "should_sync", None)
        sync = bool(should_sync()) if callable(should_sync) else True
        if sync != self._grad_sync:
            self.set_requires_gradient_sync(sync)
        return train_step(self.module, data, optim_wrapper, wrapper=self)

    def val_step(self, data: Any) -> Any:
        """The module's ``val_step`` (FSDP2's hooks are on the module itself: it gathers)."""
        return self.module.val_step(data)

    def test_step(self, data: Any) -> Any:
        """The module's ``test_step``."""
        return self.module.test_step(data)

    def _check_optimizer(self, optim_wrapper: Any) -> None:
        """An optimizer built before ``fully_shard`` holds the replaced full tensors and would
        silently train nothing: refuse it (checked once per optimizer)."""
        optimizer = getattr(optim_wrapper, "optimizer", None)
        if optimizer is None or id(optimizer) in self._checked_optimizers:
            return
        current = {id(p) for p in self.module.parameters()}
        stale = [p for group in optimizer.param_groups for p in group["params"] if id(p) not in current]
        if stale:
            kinds = "DTensor" if all(isinstance(p, DTensor) for p in stale) else "full tensor"
            raise RuntimeError(
                f"the optimizer holds {len(stale)} parameter(s) (e.g. a {kinds} of shape "
                f"{tuple(stale[0].shape)}) that are not the sharded model's: it was built before "
                "fully_shard replaced the parameters, so it would train nothing. Build the optimizer "
                "from the wrapped model (give the Runner optim_wrapper as a config, or call "
                "build_optim_wrapper(unwrap_model(wrapped), cfg) after wrapping)")
        self._checked_optimizers.add(id(optimizer))
