"""Compile an ``init_cfg`` into checked steps before any parameter changes, then run them.

Each entry becomes a step (its initializer applied to the module by ``layer``), followed by one
step per ``override`` (applied to the whole named submodule; dotted names allowed). Compiling
checks everything that could fail later: unknown types (with a did-you-mean), unaccepted
arguments, override names, fan-based inits on 1-D weights, unreadable checkpoints. Errors are
:class:`kiln.errors.ConfigError` naming the config path; layer names that match nothing are
warned about.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from kiln.errors import CheckpointError, ConfigError
from kiln.logging import print_log
from kiln.model.weight_init import report as init_report
from kiln.model.weight_init.functions import _tensor
from kiln.model.weight_init.initializers import _BUILTIN, BaseInit, PretrainedInit, _class_names
from kiln.registry import WEIGHT_INITIALIZERS, build_from_cfg

__all__ = ["InitStep", "compile_init_cfg", "run_step", "initialize"]


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
        if isinstance(initializer, BaseInit) and type(initializer).__call__ is BaseInit.__call__:
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
        from kiln.model.weight_init.sharded import has_dtensor_params

        _prepare_pretrained(initializer, path, sharded=has_dtensor_params(target))
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


def _prepare_pretrained(initializer: PretrainedInit, path: str, sharded: bool = False) -> None:
    from kiln.checkpoint.download import is_url

    ckpt = initializer.checkpoint
    if not is_url(ckpt) and not os.path.isfile(ckpt):
        what = "is a directory" if os.path.isdir(ckpt) else "does not exist"
        raise ConfigError(f"{path}.checkpoint", f"checkpoint {ckpt!r} {what} (looked for "
                                                f"{os.path.abspath(ckpt)}); give the path of a "
                                                "checkpoint file or an http(s) URL")
    try:
        initializer.prepare(sharded=sharded)
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


def initialize(module: nn.Module, init_cfg: dict | list[dict]) -> None:
    """Initialize ``module`` with ``init_cfg`` (a dict or a list of dicts), checking it all first.

    Raises:
        ConfigError: anything wrong in ``init_cfg``, named by its path; no weight has changed.
    """
    for step in compile_init_cfg(module, init_cfg):
        run_step(step)
