"""Config-driven weight initialization: the registered initializers (``initialize`` lives in ``compile``).

``init_cfg=dict(type='Kaiming', layer='Conv2d')`` builds a :class:`KaimingInit` from the
``WEIGHT_INITIALIZERS`` registry and applies it to every ``Conv2d`` (or direct subclass) below the
module. Unlike MMEngine, a whole ``init_cfg`` is compiled into steps and checked BEFORE any
parameter changes (types, arguments, override names, shapes, checkpoint files), so a typo never
leaves a half-initialized model (see :mod:`kiln.model.weight_init.compile`). The module init functions
(``kaiming_init`` ...) live in :mod:`kiln.model.weight_init.functions` and are re-exported here.

Example:
    >>> import torch.nn as nn
    >>> from kiln.model import initialize
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    >>> initialize(net, [dict(type='Kaiming', layer='Conv2d'),
    ...                  dict(type='Constant', layer='BatchNorm2d', val=1)])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from kiln.logging import print_log
from kiln.model.weight_init import report as init_report
from kiln.model.weight_init.functions import (  # noqa: F401 - re-exported: MMEngine's import paths
    _check_distribution,
    _tensor,
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)
from kiln.registry import WEIGHT_INITIALIZERS

__all__ = [
    "constant_init", "xavier_init", "normal_init", "trunc_normal_init", "uniform_init",
    "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
    "BaseInit", "ConstantInit", "XavierInit", "NormalInit", "TruncNormalInit", "UniformInit",
    "KaimingInit", "Caffe2XavierInit", "PretrainedInit", "update_init_info",
]


# -- initializer classes ------------------------------------------------------------------------
def _class_names(module: nn.Module) -> set[str]:
    """The module's class name and its DIRECT base classes' names (MMEngine's layer matching)."""
    cls = type(module)
    return {cls.__name__, *(base.__name__ for base in cls.__bases__)}


def _post_order(module: nn.Module) -> list[nn.Module]:
    """Submodules children-first, like ``nn.Module.apply``, but each shared module once."""
    out: list[nn.Module] = []
    seen: set[int] = set()

    def visit(m: nn.Module) -> None:
        for child in m.children():
            if id(child) not in seen:
                seen.add(id(child))
                visit(child)
        out.append(m)

    visit(module)
    return out


class BaseInit:
    """Base of the registered initializers: bias handling and ``layer`` matching.

    Args:
        bias: Constant for every matched module's ``bias``.
        bias_prob: If given, the bias is :func:`bias_init_with_prob` of it (overrides ``bias``).
        layer: Class name(s) to initialize; a module matches when its class or one of its DIRECT
            base classes has that name. Empty matches nothing (overrides use ``wholemodule``).
    """

    needs_fan = False  # True for inits whose scale depends on fan-in/out (needs a >= 2-D weight)

    def __init__(self, *, bias: float = 0, bias_prob: float | None = None,
                 layer: str | list[str] | None = None) -> None:
        self.wholemodule = False
        if isinstance(bias, bool) or not isinstance(bias, (int, float)):
            raise TypeError(f"bias must be a number, but got a {type(bias).__name__}")
        if bias_prob is not None and not isinstance(bias_prob, float):
            raise TypeError(f"bias_prob type must be float, but got a {type(bias_prob).__name__}")
        if layer is None:
            layer = []
        elif isinstance(layer, str):
            layer = [layer]
        if not isinstance(layer, (list, tuple)) or not all(isinstance(x, str) for x in layer):
            raise TypeError(f"layer must be a str or a list of str, but got {layer!r}")
        self.layer = list(layer)
        self.bias = bias_init_with_prob(bias_prob) if bias_prob is not None else bias

    def init_module(self, module: nn.Module) -> None:
        """Initialize ONE module's own weight/bias (subclasses implement this)."""
        raise NotImplementedError

    def targets(self, module: nn.Module) -> list[nn.Module]:
        """The modules under ``module`` (itself included) that this initializer writes."""
        modules = _post_order(module)
        if self.wholemodule:
            return [m for m in modules if _tensor(m, "weight") is not None or _tensor(m, "bias") is not None]
        wanted = set(self.layer)
        return [m for m in modules if _class_names(m) & wanted]

    def apply_to(self, modules: list[nn.Module]) -> None:
        for m in modules:
            self.init_module(m)

    def __call__(self, module: nn.Module) -> None:
        self.apply_to(self.targets(module))
        update_init_info(module, self._get_init_info())

    def _get_init_info(self) -> str:
        return f"{self.__class__.__name__}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Constant")
class ConstantInit(BaseInit):
    """Constant weight ``val`` and constant bias."""

    def __init__(self, val: float, *, bias: float = 0, bias_prob: float | None = None,
                 layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise TypeError(f"val must be a number, but got a {type(val).__name__}")
        self.val = val

    def init_module(self, module: nn.Module) -> None:
        constant_init(module, self.val, self.bias)

    def _get_init_info(self) -> str:
        return f"{self.__class__.__name__}: val={self.val}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Xavier")
class XavierInit(BaseInit):
    """Xavier weight (``gain``, ``distribution`` 'normal' or 'uniform'), constant bias."""

    needs_fan = True

    def __init__(self, gain: float = 1, distribution: str = "normal", *, bias: float = 0,
                 bias_prob: float | None = None, layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        _check_distribution(distribution)
        self.gain = gain
        self.distribution = distribution

    def init_module(self, module: nn.Module) -> None:
        xavier_init(module, self.gain, self.bias, self.distribution)

    def _get_init_info(self) -> str:
        return (f"{self.__class__.__name__}: gain={self.gain}, "
                f"distribution={self.distribution}, bias={self.bias}")


@WEIGHT_INITIALIZERS.register_module(name="Normal")
class NormalInit(BaseInit):
    """Normal(mean, std) weight, constant bias."""

    def __init__(self, mean: float = 0, std: float = 1, *, bias: float = 0,
                 bias_prob: float | None = None, layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        if std < 0:
            raise ValueError(f"std must be >= 0, but got {std}")
        self.mean = mean
        self.std = std

    def init_module(self, module: nn.Module) -> None:
        normal_init(module, self.mean, self.std, self.bias)

    def _get_init_info(self) -> str:
        return f"{self.__class__.__name__}: mean={self.mean}, std={self.std}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="TruncNormal")
class TruncNormalInit(BaseInit):
    """Truncated normal weight (absolute cut-offs ``a`` < ``b``), constant bias."""

    def __init__(self, mean: float = 0, std: float = 1, a: float = -2, b: float = 2, *,
                 bias: float = 0, bias_prob: float | None = None,
                 layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        if not a < b:
            raise ValueError(f"the cut-offs must satisfy a < b, but got a={a}, b={b}")
        if std <= 0:
            raise ValueError(f"std must be > 0, but got {std}")
        self.mean, self.std, self.a, self.b = mean, std, a, b

    def init_module(self, module: nn.Module) -> None:
        trunc_normal_init(module, self.mean, self.std, self.a, self.b, self.bias)

    def _get_init_info(self) -> str:
        return (f"{self.__class__.__name__}: a={self.a}, b={self.b}, mean={self.mean}, "
                f"std={self.std}, bias={self.bias}")


@WEIGHT_INITIALIZERS.register_module(name="Uniform")
class UniformInit(BaseInit):
    """Uniform[a, b) weight, constant bias."""

    def __init__(self, a: float = 0, b: float = 1, *, bias: float = 0,
                 bias_prob: float | None = None, layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        if a > b:
            raise ValueError(f"the range must satisfy a <= b, but got a={a}, b={b}")
        self.a, self.b = a, b

    def init_module(self, module: nn.Module) -> None:
        uniform_init(module, self.a, self.b, self.bias)

    def _get_init_info(self) -> str:
        return f"{self.__class__.__name__}: a={self.a}, b={self.b}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Kaiming")
class KaimingInit(BaseInit):
    """Kaiming weight (``a``, ``mode``, ``nonlinearity``, ``distribution``), constant bias."""

    needs_fan = True

    def __init__(self, a: float = 0, mode: str = "fan_out", nonlinearity: str = "relu",
                 distribution: str = "normal", *, bias: float = 0, bias_prob: float | None = None,
                 layer: str | list[str] | None = None) -> None:
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        if mode not in ("fan_in", "fan_out"):
            raise ValueError(f"mode must be 'fan_in' or 'fan_out', but got {mode!r}")
        _check_distribution(distribution)
        nn.init.calculate_gain(nonlinearity, a)  # raises ValueError for an unknown nonlinearity
        self.a, self.mode, self.nonlinearity, self.distribution = a, mode, nonlinearity, distribution

    def init_module(self, module: nn.Module) -> None:
        kaiming_init(module, self.a, self.mode, self.nonlinearity, self.bias, self.distribution)

    def _get_init_info(self) -> str:  # "distribution =" (with the space) is MMEngine's exact text
        return (f"{self.__class__.__name__}: a={self.a}, mode={self.mode}, "
                f"nonlinearity={self.nonlinearity}, distribution ={self.distribution}, bias={self.bias}")


@WEIGHT_INITIALIZERS.register_module(name="Caffe2Xavier")
class Caffe2XavierInit(KaimingInit):
    """Caffe2's Xavier: Kaiming with a=1, fan_in, leaky_relu, uniform (those four are fixed)."""

    def __init__(self, *, bias: float = 0, bias_prob: float | None = None,
                 layer: str | list[str] | None = None) -> None:
        super().__init__(a=1, mode="fan_in", nonlinearity="leaky_relu", distribution="uniform",
                         bias=bias, bias_prob=bias_prob, layer=layer)


@WEIGHT_INITIALIZERS.register_module(name="Pretrained")
class PretrainedInit:
    """Load a checkpoint (local path or http(s) URL) into the module.

    Args:
        checkpoint: Path or URL of the checkpoint.
        prefix: Load only the keys under this prefix (e.g. ``'backbone'``), prefix removed.
        map_location: Where tensors are loaded (``torch.load``'s argument).
        weights_only: Keep True unless you trust the file (False can execute arbitrary code).
    """

    def __init__(self, checkpoint: str | os.PathLike, prefix: str | None = None,
                 map_location: Any = "cpu", weights_only: bool = True) -> None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path or an http(s) URL, but got a "
                            f"{type(checkpoint).__name__}")
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, but got a {type(prefix).__name__}")
        self.checkpoint = os.fspath(checkpoint)
        self.prefix = prefix
        self.map_location = map_location
        self.weights_only = weights_only
        self.wholemodule = False
        self._state: dict | None = None

    def prepare(self, sharded: bool = False) -> None:
        """Read the checkpoint now (silently) so that any problem surfaces before weights change.

        ``sharded`` (the module holds DTensors): only open the file; each rank reads its shards
        when it loads (:mod:`kiln.model.weight_init.sharded`), never the whole state dict.
        """
        from kiln.checkpoint.loading import load_checkpoint_file

        if sharded:
            from kiln.model.weight_init.sharded import check_readable

            check_readable(self.checkpoint)
        elif self._state is None:
            ckpt = load_checkpoint_file(self.checkpoint, self.map_location, self.weights_only, log=False)
            self._state = self._select(ckpt)

    def _select(self, checkpoint: Mapping[str, Any]) -> dict:
        from kiln.checkpoint.loading import revise_keys, select_prefix, unwrap_state_dict

        state = revise_keys(unwrap_state_dict(checkpoint), [(r"^module\.", "")])
        return select_prefix(state, self.prefix) if self.prefix is not None else state

    def __call__(self, module: nn.Module) -> None:
        from kiln.checkpoint.loading import checkpoint_source, load_checkpoint_file, load_state_dict

        if self.prefix is None:
            print_log(f"load model from: {self.checkpoint}", logger="current")
        else:
            print_log(f"load {self.prefix} in model from: {self.checkpoint}", logger="current")
        print_log(f"{checkpoint_source(self.checkpoint)} loads checkpoint from path: {self.checkpoint}",
                  logger="current")
        state = self._state
        from kiln.model.weight_init.sharded import has_dtensor_params, read_local_shards

        if has_dtensor_params(module):  # FSDP2 shards: read only this rank's slices
            state = read_local_shards(module, self.checkpoint, self.prefix)
        elif state is None:
            state = self._select(load_checkpoint_file(self.checkpoint, self.map_location,
                                                      self.weights_only, log=False))
        self._state = None  # free the tensors once loaded
        report = load_state_dict(module, state, strict=False)
        if not report.ok:
            print_log(report.table(), logger="current", level=logging.WARNING)
        update_init_info(module, self._get_init_info())

    def _get_init_info(self) -> str:
        return f"{self.__class__.__name__}: load from {self.checkpoint}"


_BUILTIN = (ConstantInit, XavierInit, NormalInit, TruncNormalInit, UniformInit, KaimingInit,
            Caffe2XavierInit, PretrainedInit)


def update_init_info(module: nn.Module, init_info: str) -> None:
    """Record ``init_info`` for every parameter of ``module`` written since it was last recorded.

    Only meaningful during ``BaseModule.init_weights()`` (outside it, it does nothing). Writes are
    seen through each tensor's version counter, a host-side integer: no device sync.
    """
    tracker = init_report.active_tracker()
    if tracker is not None:
        tracker.attribute(module, init_info)
