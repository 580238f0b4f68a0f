"""DefaultOptimWrapperConstructor: optimizer + wrapper from a config, with per-parameter settings.

``paramwise_cfg`` lets a config say "no weight decay on norms and biases" or "backbone at a tenth
of the lr" without code: each parameter gets its own param group whose ``lr`` / ``weight_decay``
are the optimizer's base values times the multipliers that apply to it.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    >>> ctor = DefaultOptimWrapperConstructor(
    ...     dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4)),
    ...     paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'0.': dict(lr_mult=0.1)}))
    >>> [round(g['lr'], 4) for g in ctor(model).optimizer.param_groups]
    [0.01, 0.01, 0.1, 0.1]
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, check_arguments

__all__ = ["DefaultOptimWrapperConstructor"]

_PATH = "optim_wrapper"
_MULTS = ("bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult", "flat_decay_mult")
_PARAMWISE_KEYS = (*_MULTS, "custom_keys", "bypass_duplicate")
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def _signature_default(cls: Any, name: str) -> Any:
    try:
        param = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is param.empty else param.default


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DefaultOptimWrapperConstructor:
    """Build ``optim_wrapper_cfg['optimizer']`` over a model's parameters, then the wrapper around it.

    Args:
        optim_wrapper_cfg: The ``optim_wrapper`` config: ``optimizer`` (a dict with ``type``, a
            registered name or a class, or an already built optimizer), optional ``type`` of the
            wrapper (default ``OptimWrapper``) and the wrapper's arguments.
        paramwise_cfg: Optional per-parameter rules: ``custom_keys`` (``{name_substring:
            dict(lr_mult=, decay_mult=)}``, the longest matching key wins, ties alphabetical),
            ``bias_lr_mult``, ``bias_decay_mult``, ``norm_decay_mult``, ``dwconv_decay_mult``,
            ``flat_decay_mult`` and ``bypass_duplicate`` (skip parameters shared between modules).
    """

    def __init__(self, optim_wrapper_cfg: Mapping[str, Any], paramwise_cfg: Mapping[str, Any] | None = None) -> None:
        if not isinstance(optim_wrapper_cfg, Mapping):
            raise ConfigError(_PATH, f"expected a dict, but got {type(optim_wrapper_cfg).__name__}")
        if "optimizer" not in optim_wrapper_cfg:
            raise ConfigError(_PATH, f"missing the key 'optimizer' (e.g. optimizer=dict(type='SGD', lr=0.01)); "
                                     f"got keys {sorted(optim_wrapper_cfg)}")
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        # a subclass may read keys of its own: only kiln's own class rejects unknown keys
        self.paramwise_cfg = self._check_paramwise(
            paramwise_cfg, subclass=type(self) is not DefaultOptimWrapperConstructor)

    @staticmethod
    def _check_paramwise(paramwise_cfg: Mapping[str, Any] | None, subclass: bool = False) -> dict[str, Any]:
        path = f"{_PATH}.paramwise_cfg"
        if paramwise_cfg is None:
            return {}
        if not isinstance(paramwise_cfg, Mapping):
            raise ConfigError(path, f"expected a dict, but got {type(paramwise_cfg).__name__}")
        unknown = sorted(set(paramwise_cfg) - set(_PARAMWISE_KEYS))
        if unknown and subclass:
            print_log(f"{path}: DefaultOptimWrapperConstructor ignores {unknown} (left to the "
                      "subclass that reads them)", logger="current", level=logging.WARNING)
        elif unknown:
            import difflib

            close = [c for k in unknown for c in difflib.get_close_matches(k, _PARAMWISE_KEYS, n=1)]
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ConfigError(path, f"unknown key(s) {unknown}{hint}; accepted: {sorted(_PARAMWISE_KEYS)}")
        for key in _MULTS:
            value = paramwise_cfg.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"{path}.{key}", f"expected a number, but got {value!r}")
        custom_keys = paramwise_cfg.get("custom_keys", {})
        if not isinstance(custom_keys, Mapping):
            raise ConfigError(f"{path}.custom_keys", f"expected a dict of name -> dict(lr_mult=, decay_mult=), "
                                                     f"but got {type(custom_keys).__name__}")
        for key, rule in custom_keys.items():
            where = f"{path}.custom_keys[{key!r}]"
            if not isinstance(rule, Mapping):
                raise ConfigError(where, f"expected a dict such as dict(lr_mult=0.1), but got {rule!r}")
            bad = sorted(set(rule) - {"lr_mult", "decay_mult"})
            if bad:
                raise ConfigError(where, f"unknown key(s) {bad}; accepted: ['decay_mult', 'lr_mult']")
        return dict(paramwise_cfg)

    # -- building ---------------------------------------------------------------------------
    def __call__(self, model: nn.Module) -> Any:
        cfg = dict(self.optim_wrapper_cfg)
        optimizer = self.build_optimizer(model, cfg.pop("optimizer"))
        cfg.setdefault("type", "OptimWrapper")
        return OPTIM_WRAPPERS.build(cfg, default_args=dict(optimizer=optimizer), path=_PATH)

    def build_optimizer(self, model: nn.Module, optimizer_cfg: Any) -> torch.optim.Optimizer:
        path = f"{_PATH}.optimizer"
        if isinstance(optimizer_cfg, torch.optim.Optimizer):
            return optimizer_cfg
        if not isinstance(optimizer_cfg, Mapping):
            raise ConfigError(path, f"expected a dict with 'type' (e.g. dict(type='SGD', lr=0.01)) or an "
                                    f"optimizer, but got {type(optimizer_cfg).__name__}")
        kwargs = dict(optimizer_cfg)
        if "type" not in kwargs:
            raise ConfigError(path, f"missing the key 'type' (an optimizer name such as 'SGD' or a class); "
                                    f"got keys {sorted(kwargs)}")
        optim_cls = OPTIMIZERS.resolve(kwargs.pop("type"), f"{path}.type")
        check_arguments(optim_cls, kwargs, path, skip=1)
        params: Any = model.parameters()
        if self.paramwise_cfg:
            base_lr = kwargs.get("lr", _signature_default(optim_cls, "lr"))
            base_wd = kwargs.get("weight_decay", _signature_default(optim_cls, "weight_decay"))
            params = self.param_groups(model, base_lr, base_wd)
        try:
            return optim_cls(params, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(path, f"{getattr(optim_cls, '__name__', optim_cls)} rejected its arguments: {exc}") from exc

    def param_groups(self, model: nn.Module, base_lr: float | None, base_wd: float | None) -> list[dict[str, Any]]:
        """One param group per parameter, with the paramwise multipliers applied."""
        custom_keys = self.paramwise_cfg.get("custom_keys", {})
        # Longest key first; equal lengths in alphabetical order (deterministic, as MMEngine).
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
        used_keys: set[str] = set()
        groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for module_name, module in model.named_modules():
            for name, param in module.named_parameters(recurse=False):
                full_name = f"{module_name}.{name}" if module_name else name
                if id(param) in seen:
                    if self.paramwise_cfg.get("bypass_duplicate", False):
                        print_log(f"{full_name} is duplicate. It is skipped since bypass_duplicate=True",
                                  level=logging.WARNING)
                        continue
                    raise ConfigError(f"{_PATH}.paramwise_cfg", f"parameter {full_name!r} is shared with another "
                                                                "module; set bypass_duplicate=True to skip repeats")
                seen.add(id(param))
                group: dict[str, Any] = {"params": [param]}
                key = next((k for k in sorted_keys if k in full_name), None)
                if key is not None:
                    used_keys.add(key)
                if param.requires_grad:
                    if key is not None:
                        self._apply_custom(group, custom_keys[key], base_lr, base_wd)
                    else:
                        self._apply_mults(group, module, name, param, base_lr, base_wd)
                groups.append(group)
        unused = [k for k in sorted_keys if k not in used_keys]
        if unused:
            raise ConfigError(f"{_PATH}.paramwise_cfg.custom_keys[{unused[0]!r}]",
                              f"matches no parameter name of {type(model).__name__} "
                              "(keys match any part of the dotted name, e.g. 'backbone' or 'head.fc')")
        return groups

    @staticmethod
    def _apply_custom(group: dict[str, Any], rule: Mapping[str, Any], base_lr: float | None,
                      base_wd: float | None) -> None:
        if base_lr is not None:
            group["lr"] = base_lr * rule.get("lr_mult", 1.0)
        if base_wd is not None:
            group["weight_decay"] = base_wd * rule.get("decay_mult", 1.0)

    def _apply_mults(self, group: dict[str, Any], module: nn.Module, name: str, param: torch.Tensor,
                     base_lr: float | None, base_wd: float | None) -> None:
        cfg = self.paramwise_cfg
        is_norm = isinstance(module, _NORMS)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        # bias_lr_mult applies to every bias except the norms' (their bias is a shift, not a filter).
        if name == "bias" and not is_norm and cfg.get("bias_lr_mult") is not None and base_lr is not None:
            group["lr"] = base_lr * cfg["bias_lr_mult"]
        if base_wd is None:
            return
        if is_norm and cfg.get("norm_decay_mult") is not None:
            group["weight_decay"] = base_wd * cfg["norm_decay_mult"]
        elif name == "bias" and cfg.get("bias_decay_mult") is not None:
            group["weight_decay"] = base_wd * cfg["bias_decay_mult"]
        elif is_dwconv and cfg.get("dwconv_decay_mult") is not None:
            group["weight_decay"] = base_wd * cfg["dwconv_decay_mult"]
        elif param.ndim == 1 and cfg.get("flat_decay_mult") is not None:
            group["weight_decay"] = base_wd * cfg["flat_decay_mult"]
