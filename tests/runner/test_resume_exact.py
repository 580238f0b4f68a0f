"""Loop side of exact resume: a run interrupted after a mid-epoch checkpoint and resumed with
``resume=True`` logs the same losses, bitwise, as an uninterrupted run (epoch- and iteration-based,
with and without DataLoader workers). The crash is an exception raised from a hook; the SIGKILL
version of this test belongs to the checkpoint tests."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, y, mode="tensor"):
        return {"loss": F.cross_entropy(self.fc(x), y)}


class Crash(Exception):
    pass


class LossLog(Hook):
    def __init__(self, crash_at=None):
        self.losses = []
        self.crash_at = crash_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append((runner.iter, outputs["loss"].item()))
        if runner.iter == self.crash_at:
            raise Crash


def _runner(work_dir, log, by_epoch, num_workers, resume=False):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(40, 4, generator=generator), torch.randint(0, 3, (40,), generator=generator)))
    torch.manual_seed(0)
    train_cfg = dict(by_epoch=True, max_epochs=3) if by_epoch else dict(by_epoch=False, max_iters=25, val_interval=100)
    return Runner(
        model=Net(), work_dir=str(work_dir), resume=resume, randomness=dict(seed=3), custom_hooks=[log],
        train_dataloader=dict(dataset=data, batch_size=4, num_workers=num_workers,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9)),
        param_scheduler=dict(type="MultiStepLR", milestones=[1, 2], by_epoch=by_epoch, gamma=0.5),
        train_cfg=train_cfg,
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=4, by_epoch=False)))


@pytest.mark.parametrize("by_epoch,num_workers", [(True, 0), (False, 0), (True, 2)])
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, by_epoch, num_workers):
    full = LossLog()
    _runner(tmp_path / "full", full, by_epoch, num_workers).train()

    crashed = LossLog(crash_at=13)  # the last checkpoint is iter_12: epoch 1, batch 2 of 10
    with pytest.raises(Crash):
        _runner(tmp_path / "run", crashed, by_epoch, num_workers).train()
    resumed = LossLog()
    runner = _runner(tmp_path / "run", resumed, by_epoch, num_workers, resume=True)
    runner.train()

    assert resumed.losses[0][0] == 12  # continues at the first iteration after the checkpoint
    combined = [entry for entry in crashed.losses if entry[0] < 12] + resumed.losses
    assert combined == full.losses  # bitwise equal losses, in the same order
