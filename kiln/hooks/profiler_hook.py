"""``ProfilerHook``: profile the first training epoch (or first N iterations) with ``torch.profiler``.

The profiler starts at ``before_train`` (MMEngine: ``before_run``; a val/test-only run has
nothing to profile), steps after each training iteration and stops after the
first epoch (``by_epoch=True``) or after ``profile_times`` iterations. Traces go under the run's
log dir: a TensorBoard trace (``on_trace_ready=dict(type='tb_trace')``, in ``tf_tracing_logs``), a
printed table (``dict(type='log_trace', sort_by=...)``), or a Chrome trace (``json_trace_path``).
With none of these given, kiln writes ``<log_dir>/profiler_trace.json`` (MMEngine writes nothing),
so a bare ``dict(type='ProfilerHook')`` always leaves a trace to open in ``chrome://tracing`` or
Perfetto.

Example:
    >>> custom_hooks = [dict(type='ProfilerHook', by_epoch=False, profile_times=10,
    ...                      schedule=dict(wait=1, warmup=1, active=3),
    ...                      on_trace_ready=dict(type='tb_trace'))]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import torch

from kiln.errors import ConfigError
from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging import print_log
from kiln.registry import HOOKS

__all__ = ["ProfilerHook"]

_PATH = "custom_hooks.ProfilerHook"


@HOOKS.register_module()
class ProfilerHook(Hook):
    """Run ``torch.profiler.profile`` over the start of training.

    Args:
        by_epoch: Profile the first epoch (``profile_times`` must be 1), else iterations.
        profile_times: Iterations to profile when ``by_epoch=False``.
        activity_with_cpu: Record CPU activity.
        activity_with_cuda: Record CUDA activity (skipped with a warning without CUDA).
        schedule: ``torch.profiler.schedule`` arguments (``wait``, ``warmup``, ``active``, ...).
        on_trace_ready: A callable ``f(prof)``, ``dict(type='log_trace', **table_kwargs)`` or
            ``dict(type='tb_trace', dir_name=None, **handler_kwargs)``.
        record_shapes, profile_memory, with_stack, with_flops: ``torch.profiler.profile`` options.
        json_trace_path: Chrome trace file written when profiling ends (relative: to the log dir).
    """

    priority = "VERY_LOW"

    def __init__(self, *, by_epoch: bool = True, profile_times: int = 1, activity_with_cpu: bool = True,
                 activity_with_cuda: bool = False, schedule: dict | None = None,
                 on_trace_ready: Callable | dict | None = None, record_shapes: bool = False,
                 profile_memory: bool = False, with_stack: bool = False, with_flops: bool = False,
                 json_trace_path: str | None = None) -> None:
        if isinstance(profile_times, bool) or not isinstance(profile_times, int) or profile_times < 1:
            raise ConfigError(f"{_PATH}.profile_times", f"expected a positive int, got {profile_times!r}")
        if by_epoch and profile_times > 1:
            raise ConfigError(f"{_PATH}.profile_times", f"by_epoch=True profiles one epoch; "
                                                        f"profile_times must be 1, got {profile_times}")
        if schedule is not None and not isinstance(schedule, dict):
            raise ConfigError(f"{_PATH}.schedule", f"expected a dict of torch.profiler.schedule "
                                                   f"arguments, got {type(schedule).__name__}")
        if not (on_trace_ready is None or callable(on_trace_ready) or isinstance(on_trace_ready, dict)):
            raise ConfigError(f"{_PATH}.on_trace_ready", "expected a callable or a dict with type "
                                                         f"'log_trace'/'tb_trace', got {on_trace_ready!r}")
        if isinstance(on_trace_ready, dict) and on_trace_ready.get("type") not in ("log_trace", "tb_trace"):
            raise ConfigError(f"{_PATH}.on_trace_ready.type", "expected 'log_trace' or 'tb_trace', got "
                                                              f"{on_trace_ready.get('type')!r}")
        if isinstance(on_trace_ready, dict) and on_trace_ready["type"] == "tb_trace" and json_trace_path:
            raise ConfigError(f"{_PATH}.json_trace_path", "the 'tb_trace' handler already saves the trace "
                                                          "(a Chrome trace file under tf_tracing_logs); drop "
                                                          "json_trace_path or on_trace_ready")
        self.by_epoch = by_epoch
        self.profile_times = profile_times
        self.activity_with_cpu = activity_with_cpu
        self.activity_with_cuda = activity_with_cuda
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.json_trace_path = json_trace_path
        self.profiler: torch.profiler.profile | None = None
        self._json_path: str | None = None

    # -- setup -------------------------------------------------------------------------------
    def _activities(self) -> list[Any]:
        activities = []
        if self.activity_with_cpu:
            activities.append(torch.profiler.ProfilerActivity.CPU)
        if self.activity_with_cuda:
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            else:
                print_log("ProfilerHook: activity_with_cuda=True but CUDA is not available; "
                          "profiling the CPU only", logger="current", level=logging.WARNING)
        if not activities:
            raise ConfigError(_PATH, "nothing to profile: activity_with_cpu and activity_with_cuda "
                                     "are both off (or CUDA is unavailable)")
        return activities

    def _trace_handler(self, runner) -> Callable | None:
        ready = self.on_trace_ready
        if ready is None or callable(ready):
            return ready
        kwargs = dict(ready)
        kind = kwargs.pop("type")
        if kind == "log_trace":
            def log_trace(prof: torch.profiler.profile) -> None:
                print_log(prof.key_averages().table(**kwargs), logger="current")
            return log_trace
        dir_name = kwargs.pop("dir_name", None) or os.path.join(runner.log_dir, "tf_tracing_logs")
        if not os.path.isabs(dir_name):
            dir_name = os.path.join(runner.log_dir, dir_name)
        return torch.profiler.tensorboard_trace_handler(dir_name, **kwargs)

    def before_train(self, runner) -> None:
        limit = runner.max_epochs if self.by_epoch else runner.max_iters
        if self.profile_times > limit:
            unit = "epochs" if self.by_epoch else "iterations"
            raise ConfigError(f"{_PATH}.profile_times", f"{self.profile_times} exceeds the run's "
                                                        f"{limit} training {unit}")
        path = self.json_trace_path
        if path is None and self.on_trace_ready is None:
            path = "profiler_trace.json"
        if path is not None and not os.path.isabs(path):
            path = os.path.join(runner.log_dir, path)
        self._json_path = path
        schedule = torch.profiler.schedule(**self.schedule) if self.schedule is not None else None
        self.profiler = torch.profiler.profile(
            activities=self._activities(), schedule=schedule, on_trace_ready=self._trace_handler(runner),
            record_shapes=self.record_shapes, profile_memory=self.profile_memory,
            with_stack=self.with_stack, with_flops=self.with_flops)
        self.profiler.__enter__()
        print_log("profiler is profiling...", logger="current")

    # -- stepping and closing ----------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        if self.profiler is None:
            return
        self.profiler.step()
        if not self.by_epoch and runner.iter == self.profile_times - 1:
            self._close()

    def after_train_epoch(self, runner) -> None:
        if self.profiler is not None:
            self._close()

    def after_run(self, runner) -> None:
        if self.profiler is not None:  # training ended early (or never ran)
            self._close()

    def _close(self) -> None:
        profiler, self.profiler = self.profiler, None
        print_log("profiler may take a few minutes to export the traces...", logger="current")
        profiler.__exit__(None, None, None)
        if self._json_path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self._json_path)), exist_ok=True)
            profiler.export_chrome_trace(self._json_path)
            print_log(f"profiler trace saved to {self._json_path}", logger="current")
