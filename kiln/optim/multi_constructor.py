"""MultiOptimWrapperConstructor: one optim wrapper per named submodule, as an OptimWrapperDict.

MMEngine's GAN configs name each optimizer after the submodule it trains::

    optim_wrapper = dict(
        constructor='MultiOptimWrapperConstructor',  # optional in kiln: chosen for name-keyed dicts
        generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
        discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))))

Each entry is built by :class:`DefaultOptimWrapperConstructor` over ``model.<name>``'s parameters
(an entry may carry its own ``paramwise_cfg``), so a parameter can never end up in two optimizers.
MMEngine itself ships no such constructor (mmagic does, under this name); kiln has one so the
documented config works without a downstream package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from kiln.errors import ConfigError
from kiln.optim.default_constructor import DefaultOptimWrapperConstructor
from kiln.optim.optim_wrapper_dict import OptimWrapperDict
from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ["MultiOptimWrapperConstructor", "is_name_keyed"]


def is_name_keyed(cfg: Mapping[str, Any]) -> bool:
    """True for ``dict(generator=dict(optimizer=...), ...)``: no ``optimizer``/``type`` of its own."""
    return bool(cfg) and "optimizer" not in cfg and "type" not in cfg \
        and all(isinstance(v, Mapping) for v in cfg.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """Build ``{name: wrapper cfg}`` into an :class:`OptimWrapperDict` over ``model.<name>``.

    Args:
        optim_wrapper_cfg: ``{submodule name: optim wrapper config}``.
        paramwise_cfg: Default ``paramwise_cfg`` for entries without their own.
    """

    def __init__(self, optim_wrapper_cfg: Mapping[str, Any], paramwise_cfg: Mapping[str, Any] | None = None) -> None:
        if not isinstance(optim_wrapper_cfg, Mapping) or not is_name_keyed(optim_wrapper_cfg):
            raise ConfigError("optim_wrapper", "expected one optim wrapper config per submodule, e.g. "
                                               "dict(generator=dict(optimizer=dict(type='Adam', lr=2e-4)), "
                                               f"discriminator=dict(...)), but got {optim_wrapper_cfg!r}")
        self.constructors: dict[str, DefaultOptimWrapperConstructor] = {}
        for name, cfg in optim_wrapper_cfg.items():
            cfg = dict(cfg)
            own_paramwise = cfg.pop("paramwise_cfg", paramwise_cfg)
            try:
                self.constructors[name] = DefaultOptimWrapperConstructor(cfg, own_paramwise)
            except ConfigError as exc:
                raise _under(exc, name) from None

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        children = dict(model.named_children())
        for name in self.constructors:  # every name checked before any optimizer is built
            if name not in children:
                raise ConfigError(f"optim_wrapper.{name}", f"names no submodule of {type(model).__name__} "
                                                           f"(it has: {', '.join(children) or 'none'}); each key "
                                                           "of a multi-optimizer config is the submodule it trains")
        wrappers = {}
        for name, constructor in self.constructors.items():
            try:
                wrappers[name] = constructor(children[name])
            except ConfigError as exc:
                raise _under(exc, name) from None
        return OptimWrapperDict(**wrappers)


def _under(exc: ConfigError, name: str) -> ConfigError:
    """The same error with its path moved under ``optim_wrapper.<name>``."""
    head = "optim_wrapper"
    rest = exc.path[len(head):] if exc.path.startswith(head) else f".{exc.path}" if exc.path else ""
    return ConfigError(f"{head}.{name}{rest}", exc.reason)
