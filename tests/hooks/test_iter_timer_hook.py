"""IterTimerHook: data_time/time per iteration and the eta, with a controlled clock."""

from types import SimpleNamespace

import pytest

import kiln.hooks.iter_timer_hook as timer_module
from kiln.hooks.hook import get_priority
from kiln.hooks.iter_timer_hook import IterTimerHook
from kiln.logging.message_hub import MessageHub


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(timer_module.time, "perf_counter", c)
    return c


def test_priority():
    assert get_priority(IterTimerHook.priority) == 50


def test_train_times_and_eta(clock):
    runner = SimpleNamespace(message_hub=MessageHub("timer-train"), iter=0, max_iters=10)
    hook = IterTimerHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    for i in range(4):
        clock.now += 0.5            # waiting for data
        hook.before_train_iter(runner, i)
        clock.now += 1.5            # the step
        hook.after_train_iter(runner, i)
        runner.iter += 1
    hub = runner.message_hub
    assert hub.get_scalar("train/data_time").data[0].tolist() == pytest.approx([0.5] * 4)
    assert hub.get_scalar("train/time").data[0].tolist() == pytest.approx([2.0] * 4)
    assert hub.get_info("eta") == pytest.approx(2.0 * (10 - 3 - 1))


def test_eta_after_resume_counts_only_new_iterations(clock):
    runner = SimpleNamespace(message_hub=MessageHub("timer-resume"), iter=6, max_iters=10)
    hook = IterTimerHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    clock.now += 1.0
    hook.before_train_iter(runner, 0)
    hook.after_train_iter(runner, 0)
    assert runner.message_hub.get_info("eta") == pytest.approx(1.0 * 3)


def test_val_eta_uses_remaining_batches_and_resets(clock):
    runner = SimpleNamespace(message_hub=MessageHub("timer-val"), val_dataloader=[0] * 5)
    hook = IterTimerHook()
    for _ in range(2):  # two validations: the average restarts each time
        hook.before_val_epoch(runner)
        for i in range(2):
            hook.before_val_iter(runner, i)
            clock.now += 3.0
            hook.after_val_iter(runner, i)
        assert runner.message_hub.get_info("eta") == pytest.approx(3.0 * 3)
        hook.after_val_epoch(runner)
