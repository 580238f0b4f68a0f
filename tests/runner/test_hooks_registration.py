"""Default hooks, the merge-by-key / None-removes rule, priorities, dispatch, the order log block."""

import os

import pytest

from kiln.hooks import Hook


def _names(runner):
    return [type(h).__name__ for h in runner.hooks]


def test_default_hooks_in_priority_order(make_runner):
    runner = make_runner(default_hooks=None)
    assert _names(runner) == ["RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook",
                              "LoggerHook", "ParamSchedulerHook", "CheckpointHook"]
    assert runner.hooks[-1].interval == 1


def test_none_removes_a_default_and_dict_replaces_by_key(make_runner):
    runner = make_runner(default_hooks=dict(checkpoint=None, logger=dict(type="LoggerHook", interval=3)))
    assert "CheckpointHook" not in _names(runner)
    logger = next(h for h in runner.hooks if type(h).__name__ == "LoggerHook")
    assert logger.interval == 3
    assert len(runner.hooks) == 5


def test_custom_hooks_priority_and_stable_order(make_runner):
    class A(Hook):
        def before_run(self, runner):
            pass

    class B(A):
        pass

    class C(A):
        priority = "HIGHEST"

    runner = make_runner(default_hooks=dict(checkpoint=None),
                         custom_hooks=[A(), dict(type=B, priority=10), C(), dict(type=A, priority="LOWEST")])
    names = _names(runner)
    assert names[0] == "C"  # HIGHEST=0 before RuntimeInfoHook (VERY_HIGH=10)
    assert names.index("RuntimeInfoHook") < names.index("B")  # equal priority: registration order
    assert names.index("DistSamplerSeedHook") < names.index("A")  # NORMAL, registered later
    assert names[-1] == "A"  # LOWEST


def test_call_hook_runs_only_overriding_hooks_in_order(make_runner):
    calls = []

    class First(Hook):
        priority = 1

        def before_train_epoch(self, runner):
            calls.append("first")

    class Last(Hook):
        priority = 99

        def before_train_epoch(self, runner):
            calls.append("last")

    runner = make_runner(custom_hooks=[Last(), First()])
    runner.call_hook("before_train_epoch")
    assert calls == ["first", "last"]
    with pytest.raises(ValueError, match="unknown hook stage"):
        runner.call_hook("before_trian")


def test_call_hook_names_the_hook_on_signature_errors(make_runner):
    class Bad(Hook):
        def after_train_iter(self, runner):  # wrong signature
            pass

    runner = make_runner(custom_hooks=[Bad()])
    with pytest.raises(TypeError, match="in <.*Bad"):
        runner.call_hook("after_train_iter", batch_idx=0, data_batch=None, outputs=None)


def test_hook_order_log_block(make_runner, capsys):
    runner = make_runner(default_hooks=None)
    out = capsys.readouterr().out
    assert "Hooks will be executed in the following order:\nbefore_run:\n(VERY_HIGH   ) RuntimeInfoHook" in out
    block = runner.get_hooks_info()
    assert "before_train_epoch:\n(VERY_HIGH   ) RuntimeInfoHook" in block
    assert "DistSamplerSeedHook" not in block  # it acts at no stage: the train loop sets the epoch
    assert "(LOW         ) ParamSchedulerHook" in block
    assert block.count(" -------------------- ") == len([s for s in block.split("\n") if s.endswith(":")])


def test_bad_hook_entries(make_runner):
    from kiln.errors import ConfigError

    with pytest.raises(ConfigError, match=r"custom_hooks\[0\]: expected a Hook instance"):
        make_runner(custom_hooks=[object()])
    with pytest.raises(ConfigError, match=r"default_hooks.logger.type: 'LogerHook' is not registered.*did you mean 'LoggerHook'"):
        make_runner(default_hooks=dict(logger=dict(type="LogerHook")))


def _iter_calls(runner, stage="after_train_iter"):
    return [type(m.__self__).__name__ for m in runner._hooks._stage_calls[stage]]


def test_hooks_that_skip_an_iteration_stage_are_not_called_there(make_runner):
    seen = []

    class Count(Hook):
        def before_train_epoch(self, runner):
            seen.append(_iter_calls(runner))

    runner = make_runner(default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
                         param_scheduler=dict(type="MultiStepLR", milestones=[1], by_epoch=True),
                         custom_hooks=[Count()])
    before = _iter_calls(runner)
    runner.train()
    # registered: every overriding hook; once training started: not the two with nothing to do
    assert {"CheckpointHook", "ParamSchedulerHook"} <= set(before)
    assert "CheckpointHook" not in seen[0] and "ParamSchedulerHook" not in seen[0]
    assert "LoggerHook" in seen[0] and "RuntimeInfoHook" in seen[0]
    assert os.path.exists(os.path.join(runner.work_dir, "epoch_2.pth"))  # still saves by epoch


def test_iteration_schedulers_and_savers_keep_their_iteration_calls(make_runner):
    seen = []

    class Count(Hook):
        def before_train_epoch(self, runner):
            seen.append(_iter_calls(runner))

    runner = make_runner(default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=3, by_epoch=False)),
                         param_scheduler=dict(type="LinearLR", start_factor=0.5, by_epoch=False, end=4),
                         custom_hooks=[Count()])
    runner.train()
    assert {"CheckpointHook", "ParamSchedulerHook"} <= set(seen[0])
    assert runner.message_hub.get_scalar("train/lr").current() == pytest.approx(0.1)  # the ramp ran


def test_train_progress_is_the_loop_state_and_never_builds_the_loop(make_runner):
    runner = make_runner()
    assert runner.train_progress is None  # train_cfg is still a config: reading does not build it
    assert runner._train_loop is not None and isinstance(runner._train_loop, dict)
    runner.train()
    state = runner.train_progress
    assert state is runner.train_loop.state
    assert (runner.iter, runner.epoch) == (state.iter, state.epoch) == (12, 2)
