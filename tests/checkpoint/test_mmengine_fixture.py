"""A checkpoint written by the real MMEngine 0.10.7 Runner loads inertly through all three routes.

``tests/data/mmengine_0.10.7_tiny.pth`` and ``..._resume.json`` come from
``tests/data/make_mmengine_checkpoint.py`` (run in a separate venv with mmengine; these tests
never import it). The file pickles HistoryBuffers (with ``getattr(HistoryBuffer, 'mean')``
references), numpy arrays and scalars, and a ``collections.Counter``.
"""

import json
import os.path as osp

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kiln.checkpoint.loading import load_checkpoint_file
from kiln.hooks import Hook
from kiln.model import BaseModel, BaseModule
from kiln.runner import Runner

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "data")
CKPT = osp.join(DATA, "mmengine_0.10.7_tiny.pth")
with open(osp.join(DATA, "mmengine_0.10.7_tiny_resume.json")) as _f:
    MMENGINE_EPOCH_3_LOSSES = json.load(_f)["epoch_3_losses"]


class TinyNet(BaseModel):
    """The script's model, written against kiln."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.relu(self.fc1(x)))
        if mode == "loss":
            return {"loss": nn.functional.mse_loss(out, y)}
        return out


def _collate(batch):
    xs, ys = zip(*batch)
    return dict(x=torch.stack(xs), y=torch.stack(ys))


class RecordLoss(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs["loss"]))


def _runner(tmp_path, max_epochs, **kwargs):
    torch.manual_seed(0)  # the script's data, drawn the same way
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 2))
    return Runner(model=TinyNet(), work_dir=str(tmp_path),
                  train_dataloader=DataLoader(data, batch_size=4, shuffle=False, collate_fn=_collate),
                  optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9)),
                  param_scheduler=dict(type="MultiStepLR", milestones=[1], gamma=0.5, by_epoch=True),
                  train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                  default_hooks=dict(logger=dict(type="LoggerHook", interval=1)),
                  randomness=dict(seed=0), **kwargs)


@pytest.fixture
def mmengine_ckpt():
    return load_checkpoint_file(CKPT, log=False)


def test_fixture_is_small_and_really_from_mmengine(mmengine_ckpt):
    assert osp.getsize(CKPT) < 20_000
    assert mmengine_ckpt["meta"]["mmengine_version"].startswith("0.10.7")
    assert (mmengine_ckpt["meta"]["epoch"], mmengine_ckpt["meta"]["iter"]) == (2, 8)


def test_plain_torch_refuses_it_and_kiln_reads_it_inertly(mmengine_ckpt):
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="getattr|HistoryBuffer|numpy"):
        torch.load(CKPT, weights_only=True)
    buffers = mmengine_ckpt["message_hub"]["log_scalars"]
    assert set(buffers) == {"train/lr", "train/loss", "train/time", "train/data_time"}
    assert "statistics_methods" not in buffers["train/loss"]  # the getattr references are dropped
    assert buffers["train/lr"]["log_history"].tolist() == [0.1] * 4 + [0.05] * 4
    # collections.Counter milestones keep their count (a dict.update on a Counter would double it)
    assert dict(mmengine_ckpt["param_schedulers"][0]["milestones"]) == {1: 1}


def test_load_from(tmp_path, mmengine_ckpt):
    runner = _runner(tmp_path, max_epochs=1, load_from=CKPT)
    runner.load_or_resume()
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, mmengine_ckpt["state_dict"][name]), name


def test_resume_continues_as_mmengine_does(tmp_path):
    recorder = RecordLoss()
    runner = _runner(tmp_path, max_epochs=3, load_from=CKPT, resume=True, custom_hooks=[recorder])
    runner.train()
    # epoch 3 of kiln resumed from MMEngine's file == epoch 3 of MMEngine resumed from it
    assert recorder.losses == MMENGINE_EPOCH_3_LOSSES  # bitwise: same torch ops, same state
    assert runner.optim_wrapper.get_lr() == {"lr": [0.05]}
    history = runner.message_hub.get_scalar("train/loss").data[0]
    assert len(history) == 12  # MMEngine's 8 values, then kiln's 4
    assert history[:8] == pytest.approx(load_checkpoint_file(CKPT, log=False)["message_hub"]["log_scalars"]
                                        ["train/loss"]["log_history"].tolist())


def test_pretrained_init_cfg(mmengine_ckpt):
    class Net(BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type="Pretrained", checkpoint=CKPT))
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 2)

    net = Net()
    net.init_weights()
    assert torch.equal(net.fc2.bias.detach(), mmengine_ckpt["state_dict"]["fc2.bias"])
