"""SyncBuffersHook in one process: a no-op (the 2-process test is tests/distributed/test_sync_buffers_dist.py)."""

import torch
from torch import nn

from kiln.hooks import SyncBuffersHook


class _Runner:
    def __init__(self):
        self.model = nn.BatchNorm1d(3)
        self.model.running_mean.fill_(0.25)


def test_single_process_leaves_buffers_alone():
    runner, hook = _Runner(), SyncBuffersHook()
    hook.after_train_epoch(runner)
    hook.before_val_epoch(runner)
    assert torch.equal(runner.model.running_mean, torch.full((3,), 0.25))
