"""DCP (sharded directory) checkpoints in one process: a resumed run equals the uninterrupted one,
the directory is published atomically, a save interrupted mid-write leaves the previous checkpoint
usable, and ``consolidate`` gives one file that ``load_from`` and ``Pretrained`` read."""

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kiln.checkpoint.consolidate import consolidate
from kiln.checkpoint.dcp import is_dcp_checkpoint, read_dcp_state
from kiln.errors import CheckpointError, ConfigError
from kiln.hooks import Hook
from kiln.model import BaseModel


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)
        self.register_buffer("scale", torch.ones(3))

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.tanh(self.fc1(x))) * self.scale
        return {"loss": F.cross_entropy(out, y)} if mode == "loss" else out


class Crash(Exception):
    pass


class LossLog(Hook):
    def __init__(self, crash_at=None):
        self.losses, self.crash_at = [], crash_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append((runner.iter, outputs["loss"].item()))
        if runner.iter == self.crash_at:
            raise Crash


def _runner(work_dir, log=None, resume=False, load_from=None, max_iters=12, **ckpt):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(40, 4, generator=generator), torch.randint(0, 3, (40,), generator=generator)))
    torch.manual_seed(0)
    ckpt = dict(type="CheckpointHook", interval=4, by_epoch=False, save_format="dcp", **ckpt)
    return Runner(
        model=Net(), work_dir=str(work_dir), resume=resume, load_from=load_from, randomness=dict(seed=3),
        custom_hooks=[log] if log else None,
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=0.01)),
        param_scheduler=dict(type="MultiStepLR", milestones=[6], by_epoch=False, gamma=0.5),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(logger=None, checkpoint=ckpt))


def test_dcp_resume_equals_uninterrupted_and_layout(tmp_path):
    full = LossLog()
    _runner(tmp_path / "full", full).train()
    crashed = LossLog(crash_at=6)  # the last checkpoint is iter_4
    with pytest.raises(Crash):
        _runner(tmp_path / "run", crashed).train()
    work = tmp_path / "run"
    assert is_dcp_checkpoint(work / "iter_4")
    assert (work / "last_checkpoint").read_text() == str(work / "iter_4")
    assert not [p for p in os.listdir(work) if p.endswith(".partial")]
    names = set(os.listdir(work / "iter_4"))
    assert {".metadata", "extra_state.pth", "rank_0.pth"} <= names
    plain = torch.load(work / "iter_4" / "extra_state.pth", weights_only=True)  # plain data only
    assert plain["meta"]["iter"] == 4 and plain["loop_state"]["iter"] == 4 and "sampler" in plain

    resumed = LossLog()
    _runner(work, resumed, resume=True).train()
    assert resumed.losses[0][0] == 4
    assert [e for e in crashed.losses if e[0] < 4] + resumed.losses == full.losses  # bitwise


def test_interrupted_dcp_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    """The second save dies while DCP writes: no iter_8, last_checkpoint still iter_4, which resumes."""
    import torch.distributed.checkpoint as dcp

    real_save, calls = dcp.save, []

    def dying_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Crash("killed mid-save")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(dcp, "save", dying_save)
    with pytest.raises(CheckpointError, match="killed mid-save"):
        _runner(tmp_path / "run").train()
    monkeypatch.setattr(dcp, "save", real_save)
    work = tmp_path / "run"
    assert not (work / "iter_8").exists() and (work / ".iter_8.partial").exists()
    assert (work / "last_checkpoint").read_text() == str(work / "iter_4")
    log = LossLog()
    _runner(work, log, resume=True).train()
    assert log.losses[0][0] == 4 and not (work / ".iter_8.partial").exists()  # the partial dir is cleaned


def test_consolidate_loads_through_load_from_and_pretrained(tmp_path):
    runner = _runner(tmp_path / "run", max_iters=4)
    runner.train()
    trained = {k: v.clone() for k, v in runner.model.state_dict().items()}
    pth = consolidate(str(tmp_path / "run" / "iter_4"), str(tmp_path / "model.pth"))
    st = consolidate(str(tmp_path / "run" / "iter_4"), str(tmp_path / "model.safetensors"))
    assert torch.load(pth, weights_only=True)["meta"]["iter"] == 4

    for path in (pth, st):
        fresh = _runner(tmp_path / f"load_{os.path.basename(path)}", load_from=path, max_iters=0)
        fresh.load_or_resume()
        for key, value in trained.items():
            torch.testing.assert_close(fresh.model.state_dict()[key], value, rtol=0, atol=0)
        # a DCP directory is a load_from source too
    direct = _runner(tmp_path / "direct", load_from=str(tmp_path / "run" / "iter_4"), max_iters=0)
    direct.load_or_resume()
    torch.testing.assert_close(direct.model.state_dict()["fc1.weight"], trained["fc1.weight"], rtol=0, atol=0)

    net = Net()
    net.init_cfg = dict(type="Pretrained", checkpoint=st)
    net.init_weights()
    torch.testing.assert_close(net.fc2.weight, trained["fc2.weight"], rtol=0, atol=0)


def test_consolidate_cli_and_errors(tmp_path):
    from kiln.checkpoint.__main__ import main

    _runner(tmp_path / "run", max_iters=4).train()
    out = tmp_path / "m.pth"
    assert main(["consolidate", str(tmp_path / "run" / "iter_4"), str(out)]) == 0 and out.is_file()
    assert main(["consolidate", str(tmp_path / "run"), str(out)]) == 1  # not a DCP directory
    with pytest.raises(CheckpointError, match=r"\.pth, \.pt or \.safetensors"):
        consolidate(str(tmp_path / "run" / "iter_4"), str(tmp_path / "m.bin"))


def test_strict_load_names_missing_keys(tmp_path):
    _runner(tmp_path / "run", max_iters=4).train()
    state = read_dcp_state(str(tmp_path / "run" / "iter_4"))
    assert "rng" in state and "message_hub" in state

    class Bigger(Net):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(2, 2)

    from kiln.checkpoint.dcp import load_dcp_model

    with pytest.raises(CheckpointError, match="extra.weight"):
        load_dcp_model(str(tmp_path / "run" / "iter_4"), Bigger(), strict=True)
    loaded = Bigger()
    load_dcp_model(str(tmp_path / "run" / "iter_4"), loaded, strict=False)  # the rest loads, with a warning


def test_bad_save_format_is_a_config_error():
    from kiln.hooks import CheckpointHook

    with pytest.raises(ConfigError, match="save_format"):
        CheckpointHook(save_format="zip")
    with pytest.raises(ConfigError, match="async_save"):
        CheckpointHook(async_save="yes")


def test_ema_hook_with_dcp_resumes_the_average(tmp_path):
    from kiln.hooks import EMAHook

    def run(work_dir, max_iters, resume=False):
        runner = _runner(work_dir, max_iters=max_iters, resume=resume)
        runner.register_hook(EMAHook(momentum=0.2))
        runner.train()
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        return runner, {k: v.clone() for k, v in ema.ema_model.state_dict().items()}

    full, full_ema = run(tmp_path / "full", 12)
    run(tmp_path / "run", 8)  # saves iter_4 and iter_8
    state = read_dcp_state(str(tmp_path / "run" / "iter_8"))
    assert state["ema_layout"] == "average" and "module.fc1.weight" in state["ema_state_dict"]
    resumed, resumed_ema = run(tmp_path / "run", 12, resume=True)
    assert resumed_ema.keys() == full_ema.keys()
    assert all(torch.equal(full_ema[k], resumed_ema[k]) for k in full_ema)  # the average, bitwise
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(),
                                                  resumed.model.state_dict().values()))
