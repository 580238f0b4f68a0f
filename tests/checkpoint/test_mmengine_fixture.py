"""A checkpoint written by the real MMEngine 0.10.7 Runner loads inertly through all three routes.

``tests/data/mmengine_0.10.7_tiny.pth`` and ``..._resume.json`` come from
``tests/data/make_mmengine_checkpoint.py`` (run in a separate venv with mmengine; these tests
never import it). The file pickles HistoryBuffers (with ``getattr(HistoryBuffer, 'mean')``
references), numpy arrays and scalars, and a ``collections.Counter``.
"""

import importlib.util
import json
import os.path as osp

import pytest
import torch
from torch import nn

import kiln
from kiln.checkpoint.loading import load_checkpoint_file
from kiln.model import BaseModule

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "data")
CKPT = osp.join(DATA, "mmengine_0.10.7_tiny.pth")
with open(osp.join(DATA, "mmengine_0.10.7_tiny_resume.json")) as _f:
    MMENGINE_EPOCH_3_LOSSES = json.load(_f)["epoch_3_losses"]


def _load_script():
    """The fixture's own script: its run, built here on kiln (it imports mmengine only when asked)."""
    spec = importlib.util.spec_from_file_location("make_mmengine_checkpoint",
                                                  osp.join(DATA, "make_mmengine_checkpoint.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


def _runner(tmp_path, max_epochs, **kwargs):
    return SCRIPT.make_runner(str(tmp_path), max_epochs, engine=kiln, **kwargs)


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
    recorder = SCRIPT.loss_recorder(kiln)
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
