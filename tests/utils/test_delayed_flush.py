"""DelayedFlush: one flush per burst of buffered writes, none later than its bound."""

import threading

from kiln.utils.delayed_flush import DelayedFlush


def test_a_burst_of_writes_costs_one_flush_and_the_next_write_schedules_another():
    flushed = threading.Event()
    calls = []

    def flush():
        calls.append(1)
        flushed.set()

    delayed = DelayedFlush(flush, seconds=0.05)
    for _ in range(100):
        delayed.pending()
    assert flushed.wait(30)  # liveness bound only
    assert calls == [1]  # one timer for the whole burst
    flushed.clear()
    delayed.pending()  # after the flush: a new one is scheduled
    assert flushed.wait(30)
    assert calls == [1, 1]


def test_zero_seconds_flushes_at_once_and_cancel_drops_a_scheduled_flush():
    calls = []
    DelayedFlush(lambda: calls.append("now"), seconds=0).pending()
    assert calls == ["now"]
    delayed = DelayedFlush(lambda: calls.append("late"), seconds=3600)
    delayed.pending()
    timer = delayed._timer
    delayed.cancel()
    timer.join(30)
    assert calls == ["now"] and not timer.is_alive()


def test_a_forked_child_schedules_its_own_flush():
    import os

    import pytest

    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    done = threading.Event()
    delayed = DelayedFlush(done.set, seconds=3600)
    delayed.pending()  # the parent's timer: its thread does not exist in the child
    delayed.seconds = 0.01
    pid = os.fork()
    if pid == 0:  # the child: its write must still be flushed
        delayed.pending()
        os._exit(0 if done.wait(30) else 1)
    _, status = os.waitpid(pid, 0)
    delayed.cancel()
    assert os.WEXITSTATUS(status) == 0 and not done.is_set()
