"""Config-driven weight initialization: module init functions, registered initializers, ``initialize``.

``init_cfg=dict(type='Kaiming', layer='Conv2d')`` builds a :class:`KaimingInit` from the
``WEIGHT_INITIALIZERS`` registry and applies it to every ``Conv2d`` (or direct subclass) below the
module. Unlike MMEngine, a whole ``init_cfg`` is compiled into steps and checked BEFORE any
parameter changes (types, arguments, override names, shapes, checkpoint files), so a typo never
leaves a half-initialized model.

Example:
    >>> import torch.nn as nn
    >>> from kiln.model import initialize
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    >>> initialize(net, [dict(type='Kaiming', layer='Conv2d'),
    ...                  dict(type='Constant', layer='BatchNorm2d', val=1)])
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from kiln.errors import CheckpointError, ConfigError
from kiln.logging import print_log
from kiln.model import init_report
from kiln.registry import WEIGHT_INITIALIZERS, build_from_cfg

__all__ = [
    "constant_init", "xavier_init", "normal_init", "trunc_normal_init", "uniform_init",
    "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
    "BaseInit", "ConstantInit", "XavierInit", "NormalInit", "TruncNormalInit", "UniformInit",
    "KaimingInit", "Caffe2XavierInit", "PretrainedInit", "initialize", "update_init_info",
    "InitStep", "compile_init_cfg", "run_step",
]

_DISTRIBUTIONS = ("normal", "uniform")


# -- module init functions: one module, weight and/or bias, no recursion ---------------------
def _tensor(module: nn.Module, name: str) -> torch.Tensor | None:
    value = getattr(module, name, None)
    return value if isinstance(value, torch.Tensor) else None


def _fill_bias(module: nn.Module, bias: float) -> None:
    tensor = _tensor(module, "bias")
    if tensor is not None:
        nn.init.constant_(tensor, bias)


def _check_distribution(distribution: str) -> None:
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be 'uniform' or 'normal', but got {distribution!r}")


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Fill ``module.weight`` with ``val`` and ``module.bias`` with ``bias`` (missing/None skipped)."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.constant_(weight, val)
    _fill_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal") -> None:
    """Xavier (Glorot) ``uniform``/``normal`` weight, constant bias."""
    _check_distribution(distribution)
    weight = _tensor(module, "weight")
    if weight is not None:
        fn = nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_
        fn(weight, gain=gain)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    """Normal(mean, std) weight, constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.normal_(weight, mean, std)
    _fill_bias(module, bias)


def trunc_normal_init(module: nn.Module, mean: float = 0, std: float = 1, a: float = -2,
                      b: float = 2, bias: float = 0) -> None:
    """Truncated normal weight (``a``/``b`` are ABSOLUTE cut-offs, not in std units), constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        trunc_normal_(weight, mean, std, a, b)
    _fill_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    """Uniform[a, b) weight, constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.uniform_(weight, a, b)
    _fill_bias(module, bias)


def kaiming_init(module: nn.Module, a: float = 0, mode: str = "fan_out", nonlinearity: str = "relu",
                 bias: float = 0, distribution: str = "normal") -> None:
    """Kaiming (He) weight for ``nonlinearity`` keeping the variance of ``mode``; constant bias."""
    _check_distribution(distribution)
    weight = _tensor(module, "weight")
    if weight is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    """Caffe2's "XavierFill": Kaiming uniform, fan_in, leaky_relu with a=1 (i.e. gain 1)."""
    kaiming_init(module, a=1, mode="fan_in", nonlinearity="leaky_relu", bias=bias, distribution="uniform")


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias whose sigmoid is ``prior_prob``: ``-log((1 - p) / p)`` (focal-loss heads use p=0.01)."""
    if not 0 < prior_prob < 1:
        raise ValueError(f"prior_prob must be in (0, 1), but got {prior_prob!r}")
    return float(-math.log((1 - prior_prob) / prior_prob))


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> torch.Tensor:
    """Fill ``tensor`` from N(mean, std²) truncated to the ABSOLUTE interval [a, b]; returns it.

    Delegates to ``torch.nn.init.trunc_normal_`` (same cut-off semantics, same warning when
    ``mean`` is more than 2 std outside [a, b]), so kiln's init costs exactly what a plain
    ``torch.nn.init`` loop costs. Note: recent torch samples by rejection, which reads one flag
    back from the device per tensor; that sync is torch's, not kiln's bookkeeping.
    """
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


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

    def prepare(self) -> None:
        """Read the checkpoint now (silently) so that any problem surfaces before weights change."""
        from kiln.checkpoint.loading import load_checkpoint_file

        if self._state is None:
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
        if state is None:
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


# -- compiling an init_cfg into checked steps -----------------------------------------------------
@dataclass
class InitStep:
    """One initializer applied to one module, checked and ready to run.

    ``targets`` are the modules a built-in initializer writes (computed once at check time);
    ``builtin`` steps write in place (version counters see them); other steps are user code.
    """

    initializer: Any
    module: nn.Module
    path: str
    pretrained: bool
    builtin: bool
    targets: list[nn.Module] | None = None

    @property
    def info(self) -> str:
        describe = getattr(self.initializer, "_get_init_info", None)
        return describe() if callable(describe) else type(self.initializer).__name__


def run_step(step: InitStep) -> None:
    """Apply one step and attribute what it wrote in the active init report (if any)."""
    tracker = init_report.active_tracker()
    if step.builtin and step.targets is not None:
        step.initializer.apply_to(step.targets)
    elif step.builtin:
        step.initializer(step.module)
    elif tracker is not None:  # user code: may write through `.data`, watch values too
        with tracker.watch(step.module, step.info):
            step.initializer(step.module)
        return
    else:
        step.initializer(step.module)
    if tracker is not None:
        tracker.attribute(step.module, step.info)


def initialize(module: nn.Module, init_cfg: dict | list[dict]) -> None:
    """Initialize ``module`` with ``init_cfg`` (a dict or a list of dicts), checking it all first.

    Raises:
        ConfigError: anything wrong in ``init_cfg``, named by its path; no weight has changed.
    """
    for step in compile_init_cfg(module, init_cfg):
        run_step(step)


def compile_init_cfg(module: nn.Module, init_cfg: Any, path: str = "init_cfg") -> list[InitStep]:
    """Check ``init_cfg`` against ``module`` and turn it into steps, in application order.

    Each entry gives its own step, followed by one step per ``override``. Unknown types, bad
    arguments, missing override names, fan-based inits on 1-D weights and unreadable checkpoints
    raise a :class:`ConfigError` naming the config path; layer names matching nothing are warned.
    """
    if isinstance(init_cfg, Mapping):
        entries = [(path, init_cfg)]
    elif isinstance(init_cfg, (list, tuple)):
        entries = [(f"{path}[{i}]", cfg) for i, cfg in enumerate(init_cfg)]
    else:
        raise ConfigError(path, f"init_cfg must be a dict or a list of dicts, but got "
                                f"{type(init_cfg).__name__} {init_cfg!r}")
    steps: list[InitStep] = []
    for entry_path, cfg in entries:
        if not isinstance(cfg, Mapping):
            raise ConfigError(entry_path, f"expected a dict with a 'type' key, but got "
                                          f"{type(cfg).__name__} {cfg!r}")
        cfg = copy.deepcopy(dict(cfg))
        override = cfg.pop("override", None)
        initializer = _build(cfg, entry_path)
        steps.append(_step(initializer, module, entry_path, module))
        if isinstance(initializer, BaseInit):
            _warn_unmatched(initializer, module, entry_path, has_override=override is not None)
        if override is not None:
            parent = {k: v for k, v in cfg.items() if k != "layer"}
            steps += _compile_overrides(module, override, parent, f"{entry_path}.override")
    return steps


def _compile_overrides(module: nn.Module, override: Any, parent: dict, path: str) -> list[InitStep]:
    if isinstance(override, Mapping):
        items = [(path, override)]
    elif isinstance(override, (list, tuple)):
        items = [(f"{path}[{j}]", o) for j, o in enumerate(override)]
    else:
        raise ConfigError(path, f"override must be a dict or a list of dicts, but got "
                                f"{type(override).__name__} {override!r}")
    steps = []
    for item_path, item in items:
        if not isinstance(item, Mapping):
            raise ConfigError(item_path, f"expected a dict with a 'name' key, but got {item!r}")
        item = copy.deepcopy(dict(item))
        if "name" not in item:
            raise ConfigError(item_path, f"an override must contain the key 'name' (the submodule "
                                         f"it initializes), but got keys {sorted(item)}")
        name = item.pop("name")
        target = _resolve_submodule(module, name, f"{item_path}.name")
        if not item:
            item = copy.deepcopy(parent)  # name only: the parent's type and arguments
        elif "type" not in item:
            raise ConfigError(item_path, f"an override with arguments ({', '.join(sorted(item))}) must "
                                         "name its initializer with 'type' (e.g. type='Xavier'); give "
                                         "only 'name' to reuse the parent's type and arguments")
        initializer = _build(item, item_path)
        initializer.wholemodule = True
        steps.append(_step(initializer, target, item_path, module))
    return steps


def _build(cfg: dict, path: str) -> Any:
    try:
        return build_from_cfg(cfg, WEIGHT_INITIALIZERS, path=path)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, str(exc)) from exc


def _step(initializer: Any, target: nn.Module, path: str, owner: nn.Module) -> InitStep:
    builtin = type(initializer) in _BUILTIN
    pretrained = isinstance(initializer, PretrainedInit)
    targets = None
    if builtin and isinstance(initializer, BaseInit):
        targets = initializer.targets(target)
        if initializer.needs_fan:
            _check_fan(initializer, targets, path, owner)
    if pretrained:
        _prepare_pretrained(initializer, path)
    return InitStep(initializer, target, path, pretrained, builtin, targets)


def _check_fan(initializer: BaseInit, targets: list[nn.Module], path: str, owner: nn.Module) -> None:
    for m in targets:
        weight = _tensor(m, "weight")
        if weight is not None and weight.dim() < 2:
            names = {id(sub): n for n, sub in owner.named_modules()}
            where = f"{names.get(id(m)) or type(owner).__name__}.weight"
            raise ConfigError(path, f"{type(initializer).__name__} cannot initialize {where} "
                                    f"(a {type(m).__name__}, shape {list(weight.shape)}): it needs a "
                                    "weight with at least 2 dimensions to compute fan-in/fan-out; "
                                    "narrow 'layer' or the override 'name' so it excludes that module")


def _prepare_pretrained(initializer: PretrainedInit, path: str) -> None:
    from kiln.checkpoint.download import is_url

    ckpt = initializer.checkpoint
    if not is_url(ckpt) and not os.path.isfile(ckpt):
        what = "is a directory" if os.path.isdir(ckpt) else "does not exist"
        raise ConfigError(f"{path}.checkpoint", f"checkpoint {ckpt!r} {what} (looked for "
                                                f"{os.path.abspath(ckpt)}); give the path of a "
                                                "checkpoint file or an http(s) URL")
    try:
        initializer.prepare()
    except CheckpointError as exc:
        key = "prefix" if "prefix" in str(exc) and initializer.prefix else "checkpoint"
        raise CheckpointError(f"{path}.{key}: {exc}") from exc


def _resolve_submodule(module: nn.Module, name: Any, path: str) -> nn.Module:
    """Follow a (dotted) attribute path to a submodule, or say what exists there instead."""
    owner = type(module).__name__
    if not isinstance(name, str) or not name:
        raise ConfigError(path, f"expected the name of a submodule of {owner}, but got {name!r}")
    current, walked = module, []
    for part in name.split("."):
        child = getattr(current, part, None)
        if not isinstance(child, nn.Module):
            children = ", ".join(n for n, _ in current.named_children()) or "no submodules"
            where = f"it has: {children}" if not walked else f"{'.'.join(walked)} has: {children}"
            kind = "" if child is None else f" (it is a {type(child).__name__}, not an nn.Module)"
            raise ConfigError(path, f"{name!r} is not a submodule of {owner}{kind} ({where})")
        current = child
        walked.append(part)
    return current


def _warn_unmatched(initializer: BaseInit, module: nn.Module, path: str, has_override: bool) -> None:
    owner = type(module).__name__
    if not initializer.layer:
        if not has_override:
            print_log(f"{path}: {type(initializer).__name__} has neither 'layer' nor 'override', so "
                      f"it initializes nothing in {owner}", logger="current", level=logging.WARNING)
        return
    present = set().union(*(_class_names(m) for m in module.modules()))
    for layer in initializer.layer:
        if layer not in present:
            close = difflib.get_close_matches(layer, sorted(present), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            print_log(f"{path}.layer: no submodule of {owner} is a {layer!r} (or a direct subclass "
                      f"of one), so {type(initializer).__name__} initializes nothing for it{hint}",
                      logger="current", level=logging.WARNING)
