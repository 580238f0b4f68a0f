"""MMEngine checkpoints (HistoryBuffer + numpy pickles) read inertly under weights_only=True."""

import pickle

import numpy as np
import pytest
import torch
from _mmengine_fake import fake_mmengine_checkpoint as _fake_mmengine_checkpoint

from kiln.checkpoint.mmengine_compat import (
    convert_foreign,
    message_hub_to_plain,
    mmengine_safe_globals,
)
from kiln.logging.message_hub import MessageHub


def test_plain_weights_only_load_refuses_it(tmp_path):
    path = tmp_path / "mm.pth"
    _fake_mmengine_checkpoint(path, tmp_path / "pwned")
    with pytest.raises(pickle.UnpicklingError, match="HistoryBuffer|numpy"):
        torch.load(path, weights_only=True)


def test_reads_mmengine_checkpoint_without_running_its_code(tmp_path):
    path, flag = tmp_path / "mm.pth", tmp_path / "pwned"
    _fake_mmengine_checkpoint(path, flag)
    with mmengine_safe_globals():
        ckpt = convert_foreign(torch.load(path, weights_only=True))
    assert not flag.exists(), "the pickled class's code must never run"
    assert torch.equal(ckpt["state_dict"]["linear.weight"], torch.ones(2, 2))
    hub = message_hub_to_plain(ckpt["message_hub"])
    assert hub["log_scalars"]["train/loss"] == {"log_history": [0.5, 0.25], "count_history": [1, 1],
                                                "max_length": 1000000}
    assert hub["log_scalars"]["train/lr"]["log_history"] == pytest.approx([0.1, 0.1])
    assert hub["runtime_info"]["mean"] == 1.5
    assert torch.equal(hub["runtime_info"]["grid"], torch.arange(6, dtype=torch.int16).reshape(2, 3))
    assert hub["resumed_keys"] == {"epoch": True}
    # and the history continues in kiln's MessageHub
    kiln_hub = MessageHub(name="from-mmengine")
    kiln_hub.load_state_dict(hub)
    assert kiln_hub.get_scalar("train/loss").current() == 0.25
    assert kiln_hub.get_scalar("train/loss").mean() == 0.375
    # outside the block the globals are no longer allowed
    with pytest.raises(pickle.UnpicklingError, match="HistoryBuffer|numpy"):
        torch.load(path, weights_only=True)


def test_object_arrays_stay_inert(tmp_path):
    path = tmp_path / "obj.pth"
    torch.save({"names": np.array(["a", 1], dtype=object)}, path)
    with mmengine_safe_globals():
        ckpt = convert_foreign(torch.load(path, weights_only=True))
    assert ckpt["names"] == ["a", 1]


def test_pretrained_init_loads_an_mmengine_checkpoint(tmp_path):
    """PretrainedInit and load_from share the loader, so MMEngine files work for both."""
    from torch import nn

    from kiln.model import BaseModule

    class Net(BaseModule):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.linear = nn.Linear(2, 2)

    path, flag = tmp_path / "mm.pth", tmp_path / "pwned"
    _fake_mmengine_checkpoint(path, flag)
    net = Net(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    net.init_weights()
    assert not flag.exists()
    assert torch.equal(net.linear.weight.detach(), torch.ones(2, 2))
