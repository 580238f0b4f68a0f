"""The Runner's hooks: an ordered list, plus per-stage lists of only the hooks that act there.

Dispatch is the hot path of every iteration, so each stage keeps the bound methods of the hooks
that override it: a stage nobody overrides costs one dict lookup, and a no-op ``Hook`` method is
never called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError, add_origin
from kiln.hooks.hook import STAGES, Hook, Priority, get_priority
from kiln.registry import HOOKS, build_from_cfg

__all__ = ["HookList", "DEFAULT_HOOKS", "merge_default_hooks"]

DEFAULT_HOOKS: dict[str, dict[str, Any]] = {
    "runtime_info": dict(type="RuntimeInfoHook"),
    "timer": dict(type="IterTimerHook"),
    "sampler_seed": dict(type="DistSamplerSeedHook"),
    "logger": dict(type="LoggerHook"),
    "param_scheduler": dict(type="ParamSchedulerHook"),
    "checkpoint": dict(type="CheckpointHook", interval=1),
}


def merge_default_hooks(user: Mapping[str, Any] | None) -> dict[str, Any]:
    """MMEngine's rule: the user's entries replace the defaults by key; ``None`` removes one."""
    merged: dict[str, Any] = dict(DEFAULT_HOOKS)
    merged.update(user or {})
    return {name: hook for name, hook in merged.items() if hook is not None}


# The per-iteration train stages a hook may opt out of for a run (Hook.skips).
_PRUNABLE = frozenset({"before_train_iter", "after_train_iter"})


def _priority_name(priority: int) -> str:
    for name, value in vars(Priority).items():
        if name.isupper() and value == priority:
            return name
    return str(priority)


class HookList:
    """Hooks sorted by priority (stable), with a per-stage dispatch table."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self._stage_calls: dict[str, list[Any]] = {stage: [] for stage in STAGES}

    def register(self, hook: Hook | Mapping[str, Any], priority: int | str | None = None,
                 path: str = "custom_hooks") -> Hook:
        """Add ``hook`` (an instance or a ``HOOKS`` config; a ``priority`` key is honoured)."""
        if isinstance(hook, Mapping):
            cfg = dict(hook)
            priority = cfg.pop("priority", priority)
            hook = build_from_cfg(cfg, HOOKS, path=path)
        if not isinstance(hook, Hook):
            raise ConfigError(path, f"expected a Hook instance or a hook config dict, "
                                    f"but got {type(hook).__name__}")
        if priority is not None:
            hook.priority = priority
        value = get_priority(hook.priority)
        index = len(self.hooks)
        while index > 0 and get_priority(self.hooks[index - 1].priority) > value:
            index -= 1
        self.hooks.insert(index, hook)
        self._rebuild()
        return hook

    def _rebuild(self, runner: Any = None) -> None:
        """The per-stage calls; with ``runner`` (training has started), without the hooks that
        say they skip a train-iteration stage for this run (:meth:`Hook.skips`)."""
        self._stage_calls = {stage: [getattr(h, stage) for h in self.hooks
                                     if stage in h.get_triggered_stages()
                                     and not (runner is not None and stage in _PRUNABLE and h.skips(stage, runner))]
                             for stage in STAGES}

    def call(self, runner: Any, stage: str, **kwargs: Any) -> None:
        calls = self._stage_calls.get(stage)
        if calls is None:
            raise ValueError(f"unknown hook stage {stage!r}; stages are: {', '.join(STAGES)}")
        for method in calls:
            try:
                method(runner, **kwargs)
            except TypeError as exc:  # name the hook: "got an unexpected keyword ... in <Hook>"
                raise TypeError(f"{exc} in {method.__self__}") from exc
            except Exception as exc:  # the error path only: the loop above allocates nothing
                add_origin(exc, f"in hook {type(method.__self__).__name__}.{stage}")
                raise
        if stage == "before_train":  # every hook has seen the run's set-up: fix the iteration calls
            self._rebuild(runner)

    def info(self) -> str:
        """The per-stage order block MMEngine logs at start."""
        blocks = []
        for stage in STAGES:
            lines = [f"({_priority_name(get_priority(h.priority)):<12}) {type(h).__name__:<35}"
                     for h in self.hooks if stage in h.get_triggered_stages()]
            if lines:
                blocks.append(f"{stage}:\n" + "\n".join(lines) + "\n -------------------- ")
        return "\n".join(blocks)
