"""BaseModule: an ``nn.Module`` initialized from ``init_cfg``, plus containers that carry one.

``init_weights()`` applies, in order: the module's own non-Pretrained ``init_cfg`` entries, then
every child's ``init_weights()`` (BaseModules and plain modules that define one, including
BaseModules nested in plain torch containers), then its own Pretrained entries, so loaded
weights win. Before anything changes, the whole tree's ``init_cfg`` is checked; if user code
raises midway, every parameter and buffer is restored. The top-level call then reports, per
parameter, the initializer that last wrote it (see :mod:`kiln.model.weight_init.report`).

Example:
    >>> import torch.nn as nn
    >>> from kiln.model import BaseModule
    >>> class ToyNet(BaseModule):
    ...     def __init__(self, init_cfg=None):
    ...         super().__init__(init_cfg)
    ...         self.conv = nn.Conv2d(1, 1, 1)
    >>> net = ToyNet(init_cfg=dict(type='Kaiming', layer='Conv2d'))
    >>> net.init_weights()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn as nn

from kiln.logging import print_log
from kiln.model.weight_init.report import (
    USER_DEFINED,
    InitReport,
    InitTracker,
    active_tracker,
    dump_report,
)

__all__ = ["BaseModule", "Sequential", "ModuleList", "ModuleDict"]


class BaseModule(nn.Module):
    """``nn.Module`` with config-driven ``init_weights()`` (MMEngine's ``BaseModule``).

    Args:
        init_cfg: A dict or list of dicts, e.g. ``[dict(type='Kaiming', layer='Conv2d'),
            dict(type='Pretrained', checkpoint='ckpt.pth')]``. Deep-copied.
    """

    def __init__(self, init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__()
        self._is_init = False
        self.init_cfg = copy.deepcopy(init_cfg)

    @property
    def is_init(self) -> bool:
        """True once initialized; set it to True to make ``init_weights()`` skip this module."""
        return self._is_init

    @is_init.setter
    def is_init(self, value: bool) -> None:
        self._is_init = value

    def init_weights(self) -> None:
        """Initialize this module and its children (see the module docstring for the order).

        Raises:
            ConfigError: a bad ``init_cfg`` anywhere in the tree (nothing has changed).
        """
        tracker = active_tracker()
        if tracker is not None:  # called by a parent's init_weights: part of its run
            _init_module(self, tracker)
            return
        if self._is_init:
            _warn_twice(self)
            return
        tracker = InitTracker(self)
        _plan_tree(self, tracker)
        snapshot = _Snapshot(self) if tracker.untrusted else None
        try:
            with tracker.active():
                _init_module(self, tracker)
        except BaseException:
            if snapshot is not None:
                snapshot.restore()
            for module in tracker.initialized:
                module._is_init = False
            raise
        self._init_report = tracker.report()
        dump_report(self._init_report)

    def init_report(self) -> InitReport:
        """The report of the last top-level ``init_weights()`` call on this module, as data."""
        report = self.__dict__.get("_init_report")
        if report is None:
            raise RuntimeError(f"{type(self).__name__}.init_report(): init_weights() has not been "
                               "called on this module (the report belongs to the module "
                               "init_weights() was called on)")
        return report

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.init_cfg:
            text += f"\ninit_cfg={self.init_cfg}"
        return text


def _warn_twice(module: nn.Module) -> None:
    print_log(f"init_weights of {type(module).__name__} has been called more than once.",
              logger="current", level=logging.WARNING)


def _uses_base_init(module: nn.Module) -> bool:
    """True when ``module.init_weights`` is BaseModule's own (no user code to watch)."""
    return isinstance(module, BaseModule) and type(module).init_weights is BaseModule.init_weights


def _init_children(module: nn.Module) -> Iterator[nn.Module]:
    """Children that define ``init_weights``; plain modules without one are looked through, so
    BaseModules inside ``nn.Sequential``/``nn.ModuleList``/``nn.ModuleDict`` are reached."""
    for child in module.children():
        if callable(getattr(child, "init_weights", None)):
            yield child
        else:
            yield from _init_children(child)


def _init_module(module: BaseModule, tracker: InitTracker) -> None:
    """One module's part of ``init_weights()``: own cfgs, children, own Pretrained."""
    from kiln.model.weight_init.compile import compile_init_cfg, run_step

    if module._is_init:
        _warn_twice(module)
        return
    steps = tracker.plans.get(id(module))
    if steps is None and module.init_cfg:  # a module created after the check (rare)
        steps = compile_init_cfg(module, module.init_cfg, _cfg_path(tracker, module))
    steps = steps or []
    if module.init_cfg:
        print_log(f"initialize {type(module).__name__} with init_cfg {module.init_cfg}",
                  logger="current", level=logging.DEBUG)
    for step in steps:
        if not step.pretrained:
            run_step(step)
    for child in _init_children(module):
        if getattr(child, "is_init", False):
            continue
        info = USER_DEFINED.format(type(child).__name__)
        if _uses_base_init(child):
            child.init_weights()
            tracker.attribute(child, info)
        else:
            with tracker.watch(child, info):
                child.init_weights()
    for step in steps:
        if step.pretrained:
            run_step(step)
    module._is_init = True
    tracker.initialized.append(module)


def _cfg_path(tracker: InitTracker, module: nn.Module) -> str:
    name = tracker.names.get(id(module), "")
    return f"{name}.init_cfg" if name else "init_cfg"


def _plan_tree(top: BaseModule, tracker: InitTracker) -> None:
    """Check every init_cfg in the tree and compile it, before any parameter changes."""
    from kiln.model.weight_init.compile import compile_init_cfg

    for name, module in top.named_modules():
        _check_plain_attributes(module, name or type(top).__name__)
        if isinstance(module, BaseModule):
            if module._is_init or not module.init_cfg:
                continue
            steps = compile_init_cfg(module, module.init_cfg, _cfg_path(tracker, module))
            tracker.plans[id(module)] = steps
            tracker.untrusted |= any(not step.builtin for step in steps)
        if module is not top and callable(getattr(module, "init_weights", None)) \
                and not _uses_base_init(module):
            tracker.untrusted = True
    if not _uses_base_init(top):
        tracker.untrusted = True


def _check_plain_attributes(module: nn.Module, where: str) -> None:
    """Catch a sub-component that is not an nn.Module (its parameters would be invisible)."""
    for attr, value in vars(module).items():
        if attr.startswith("_") or isinstance(value, (nn.Module, type)):
            continue
        if inspect.ismethod(getattr(value, "init_weights", None)):
            cls = type(value).__name__
            params = [k for k, v in vars(value).items() if isinstance(v, torch.Tensor)]
            listed = f" ({', '.join(params)})" if params else ""
            raise TypeError(f"{where}.{attr} is a {cls}, which is not an nn.Module: "
                            f"{type(module).__name__} cannot see its parameters{listed} and "
                            f"init_weights() cannot reach it. Make {cls} subclass nn.Module and "
                            "call super().__init__() first in its __init__.")


class _Snapshot:
    """Copies of every parameter and buffer (and which objects each module held), to undo a
    failed ``init_weights()``. Only taken when the tree runs user code: config-only trees are
    fully checked up front and need no copy."""

    def __init__(self, top: nn.Module) -> None:
        self._slots = [(m, dict(m._parameters), dict(m._buffers)) for m in top.modules()]
        self._values = [(t, t.detach().clone()) for t in _tensors(self._slots)]

    def restore(self) -> None:
        for m, params, buffers in self._slots:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)
        with torch.no_grad():
            for tensor, value in self._values:
                if tensor.shape != value.shape:
                    tensor.data = value
                else:
                    tensor.copy_(value)


def _tensors(slots: Iterable[tuple[nn.Module, dict, dict]]) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    for _, params, buffers in slots:
        for t in [*params.values(), *buffers.values()]:
            if t is not None:
                seen.setdefault(id(t), t)
    return list(seen.values())


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` with an ``init_cfg``; its elements' ``init_weights`` run after it."""

    def __init__(self, *args: Any, init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *args)


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` with an ``init_cfg``; its elements' ``init_weights`` run after it."""

    def __init__(self, modules: Iterable[nn.Module] | None = None,
                 init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleList.__init__(self, modules)


class ModuleDict(BaseModule, nn.ModuleDict):
    """``nn.ModuleDict`` with an ``init_cfg``; its elements' ``init_weights`` run after it."""

    def __init__(self, modules: dict[str, nn.Module] | None = None,
                 init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleDict.__init__(self, modules)
