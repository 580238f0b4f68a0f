"""Checkpoint saving: weights_only-loadable format, atomic replace, clear errors, safetensors export."""

import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

from kiln.checkpoint.saving import atomic_save, save_checkpoint, to_plain
from kiln.errors import CheckpointError


def _checkpoint():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 3)).sum().backward()
    optim.step()
    return {
        "meta": {"epoch": 1, "iter": 10, "seed": 3, "time": "20260101_000000",
                 "np_scalar": np.float32(0.5), "shape": (2, 3)},
        "state_dict": model.state_dict(),
        "optimizer": optim.state_dict(),
        "extra": {"np_array": np.arange(4), "none": None, "flag": True},
    }


def test_checkpoint_loads_with_weights_only(tmp_path):
    ckpt = _checkpoint()
    path = save_checkpoint(ckpt, tmp_path / "epoch_1.pth")
    loaded = torch.load(path, weights_only=True)
    assert loaded["meta"]["np_scalar"] == 0.5 and isinstance(loaded["meta"]["np_scalar"], float)
    assert torch.equal(loaded["extra"]["np_array"], torch.arange(4))
    for key, value in ckpt["state_dict"].items():
        assert torch.equal(loaded["state_dict"][key], value)
    assert loaded["optimizer"]["param_groups"][0]["lr"] == 0.1
    # the module versions survive: BatchNorm's loader reads them
    assert loaded["state_dict"]._metadata["1"]["version"] == ckpt["state_dict"]._metadata["1"]["version"]
    assert isinstance(loaded["state_dict"], OrderedDict)


def test_unsafe_object_is_refused_with_its_path(tmp_path):
    class Config:
        pass

    with pytest.raises(CheckpointError, match=r"checkpoint\['meta'\]\['cfg'\].*Config"):
        save_checkpoint({"meta": {"cfg": Config()}}, tmp_path / "x.pth")
    assert not os.listdir(tmp_path)  # nothing written, not even a temp file


def test_to_plain_shares_tensors():
    t = torch.ones(3)
    assert to_plain({"a": [t]})["a"][0] is t


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path):
    target = tmp_path / "ckpt.pth"
    save_checkpoint({"v": torch.tensor(1)}, target)
    save_checkpoint({"v": torch.tensor(2)}, target)
    assert torch.load(target, weights_only=True)["v"].item() == 2
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pth", "ckpt.pth.sha256"]
    assert oct(os.stat(target).st_mode & 0o777) != oct(0o600)  # usual mode, not mkstemp's


def test_failed_write_keeps_previous_and_removes_temp(tmp_path):
    target = tmp_path / "ckpt.pth"
    save_checkpoint({"v": torch.tensor(1)}, target)

    def disk_full(obj, path):
        with open(path, "wb") as f:
            f.write(b"partial data")
        raise OSError(28, "No space left on device")

    with pytest.raises(CheckpointError, match=r"ckpt\.pth.*No space left.*previous file.*intact"):
        atomic_save({"v": torch.tensor(2)}, target, writer=disk_full)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pth", "ckpt.pth.sha256"]
    assert torch.load(target, weights_only=True)["v"].item() == 1


def test_bad_save_format(tmp_path):
    with pytest.raises(CheckpointError, match="save_format"):
        save_checkpoint({}, tmp_path / "x", save_format="npz")


def test_safetensors_export(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    weight = torch.randn(4, 4)
    sd = {"a": weight, "tied": weight, "t": weight.t()}  # shared and non-contiguous tensors
    path = save_checkpoint({"state_dict": sd, "meta": {"epoch": 2}}, tmp_path / "best.safetensors",
                           save_format="safetensors")
    loaded = load_file(path)
    assert all(torch.equal(loaded[k], v) for k, v in sd.items())
    with safe_open(path, "pt") as f:
        assert '"epoch": 2' in f.metadata()["meta"]
