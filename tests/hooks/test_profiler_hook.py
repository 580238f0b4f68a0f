"""ProfilerHook: a Chrome trace (default, or json_trace_path), TensorBoard traces, the printed table."""

import glob
import json
import os

import pytest

from kiln.errors import ConfigError
from kiln.hooks import ProfilerHook


def test_first_epoch_writes_a_chrome_trace_by_default(make_runner):
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=2),
                         custom_hooks=[dict(type="ProfilerHook", record_shapes=True)])
    runner.train()
    path = os.path.join(runner.log_dir, "profiler_trace.json")
    events = json.load(open(path))["traceEvents"]
    names = {e.get("name", "") for e in events}
    assert any("linear" in n or "addmm" in n for n in names), sorted(names)[:20]  # the model's ops


def test_iterations_with_schedule_and_tb_trace(make_runner):
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=1),
                         custom_hooks=[ProfilerHook(by_epoch=False, profile_times=4,
                                                    schedule=dict(wait=1, warmup=1, active=2),
                                                    on_trace_ready=dict(type="tb_trace"))])
    runner.train()
    traces = glob.glob(os.path.join(runner.log_dir, "tf_tracing_logs", "*.pt.trace.json"))
    assert len(traces) == 1 and json.load(open(traces[0]))["traceEvents"]


def test_log_trace_prints_the_table(make_runner, capsys):
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=1),
                         custom_hooks=[ProfilerHook(on_trace_ready=dict(type="log_trace", sort_by="cpu_time_total",
                                                                        row_limit=5))])
    runner.train()
    out = capsys.readouterr().out
    assert "profiler is profiling..." in out and "Self CPU time total" in out
    assert not os.path.exists(os.path.join(runner.log_dir, "profiler_trace.json"))  # a handler was given


def test_bad_arguments(make_runner):
    with pytest.raises(ConfigError, match="profile_times"):
        ProfilerHook(profile_times=0)
    with pytest.raises(ConfigError, match="by_epoch=True profiles one epoch"):
        ProfilerHook(profile_times=2)
    with pytest.raises(ConfigError, match="json_trace_path"):
        ProfilerHook(on_trace_ready=dict(type="tb_trace"), json_trace_path="x.json")
    with pytest.raises(ConfigError, match="on_trace_ready.type"):
        ProfilerHook(on_trace_ready=dict(type="html"))
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=1),
                         custom_hooks=[ProfilerHook(by_epoch=False, profile_times=100)])
    with pytest.raises(ConfigError, match="exceeds the run's 6 training iterations"):
        runner.train()
