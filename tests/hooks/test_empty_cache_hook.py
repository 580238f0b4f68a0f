"""EmptyCacheHook: empty_cache at the enabled points of train/val/test; nothing without CUDA."""

import pytest
import torch

from kiln.hooks import EmptyCacheHook


@pytest.fixture
def calls(monkeypatch):
    counter = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: counter.append(1))
    return counter


def _epoch(hook, mode, iters):
    getattr(hook, f"before_{mode}_epoch")(None)
    for i in range(iters):
        getattr(hook, f"after_{mode}_iter")(None, i)
    if mode == "train":
        hook.after_train_epoch(None)
    else:
        getattr(hook, f"after_{mode}_epoch")(None, metrics={})


@pytest.mark.parametrize("flags, expected", [
    (dict(), 3),                                                  # after each epoch (train, val, test)
    (dict(before_epoch=True, after_epoch=False), 3),
    (dict(after_epoch=False, after_iter=True), 4 + 2 + 2),
    (dict(before_epoch=True, after_iter=True), 3 + 8 + 3),
])
def test_calls_at_enabled_points(calls, flags, expected):
    hook = EmptyCacheHook(**flags)
    _epoch(hook, "train", 4)
    _epoch(hook, "val", 2)
    _epoch(hook, "test", 2)
    assert len(calls) == expected


def test_no_cuda_no_call(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: pytest.fail("empty_cache without CUDA"))
    _epoch(EmptyCacheHook(before_epoch=True, after_iter=True), "train", 2)


def test_in_a_runner(make_runner):
    runner = make_runner(custom_hooks=[dict(type="EmptyCacheHook", after_iter=True)])
    runner.train()  # CPU: runs through every stage as a no-op
    assert runner.epoch == 2
