"""``build_optim_wrapper(model, cfg)``: the one entry point the Runner uses to make its optim wrapper.

Accepts the seeds' forms (``dict(optimizer=dict(type='SGD', lr=1e-3))``, the optimizer class
itself as ``type``), an optional wrapper ``type``, ``paramwise_cfg`` and ``constructor``, or an
already built :class:`~kiln.optim.OptimWrapper` (returned as is). Several optimizers (a GAN):
``dict(generator=dict(optimizer=...), discriminator=dict(...))`` — one wrapper per submodule,
built by ``MultiOptimWrapperConstructor`` unless another ``constructor`` is named — or a dict of
built wrappers; both give an :class:`~kiln.optim.OptimWrapperDict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from kiln.errors import ConfigError
from kiln.optim.default_constructor import DefaultOptimWrapperConstructor
from kiln.optim.multi_constructor import is_name_keyed
from kiln.optim.optim_wrapper import OptimWrapper
from kiln.optim.optim_wrapper_dict import OptimWrapperDict
from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS, check_arguments

__all__ = ["build_optim_wrapper", "DefaultOptimWrapperConstructor"]


def build_optim_wrapper(model: nn.Module, cfg: Mapping[str, Any] | OptimWrapper) -> OptimWrapper:
    """Build the optim wrapper described by ``cfg`` for ``model``'s parameters.

    Example:
        >>> import torch
        >>> wrapper = build_optim_wrapper(torch.nn.Linear(2, 2),
        ...                               dict(optimizer=dict(type=torch.optim.SGD, lr=0.001, momentum=0.9)))
        >>> wrapper.get_lr(), wrapper.get_momentum()
        ({'lr': [0.001]}, {'momentum': [0.9]})
    """
    if isinstance(cfg, OptimWrapper):
        return cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError("optim_wrapper", f"expected a dict such as dict(optimizer=dict(type='SGD', lr=0.01)) "
                                           f"or an OptimWrapper, but got {type(cfg).__name__}")
    cfg = dict(cfg)
    if cfg and "constructor" not in cfg and all(isinstance(v, OptimWrapper) for v in cfg.values()):
        return OptimWrapperDict(**cfg)  # MMEngine's dict of built wrappers
    default = "MultiOptimWrapperConstructor" if is_name_keyed(
        {k: v for k, v in cfg.items() if k not in ("constructor", "paramwise_cfg")}) \
        else "DefaultOptimWrapperConstructor"
    constructor_type = cfg.pop("constructor", default)
    paramwise_cfg = cfg.pop("paramwise_cfg", None)
    constructor_cls = OPTIM_WRAPPER_CONSTRUCTORS.resolve(constructor_type, "optim_wrapper.constructor")
    args = dict(optim_wrapper_cfg=cfg, paramwise_cfg=paramwise_cfg)
    check_arguments(constructor_cls, args, "optim_wrapper.constructor")
    return constructor_cls(**args)(model)
