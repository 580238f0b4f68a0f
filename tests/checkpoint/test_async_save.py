"""Background checkpoint saves: training's losses are unchanged, the files equal synchronous
saves, a save still in flight when training ends is completed, and a failed background write is
raised at the next save without ever naming the broken file in ``last_checkpoint``."""

import os
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kiln.checkpoint.async_save import stage_to_cpu, write_in_background
from kiln.checkpoint.dcp import load_dcp_full_model_state
from kiln.errors import CheckpointError
from kiln.hooks import Hook
from kiln.model import BaseModel


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, y, mode="tensor"):
        return {"loss": F.cross_entropy(self.fc(x), y)}


class LossLog(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(outputs["loss"].item())


def _runner(work_dir, hooks=(), **ckpt):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(32, 4, generator=generator), torch.randint(0, 3, (32,), generator=generator)))
    torch.manual_seed(0)
    return Runner(
        model=Net(), work_dir=str(work_dir), randomness=dict(seed=1), custom_hooks=list(hooks),
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=12, val_interval=100),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=4, by_epoch=False,
                                                        **ckpt)))


def _weights(path):
    if os.path.isdir(path):
        return load_dcp_full_model_state(str(path))
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("save_format", ["pth", "dcp"])
def test_async_save_changes_nothing_but_when_the_write_happens(tmp_path, save_format):
    sync_log, async_log = LossLog(), LossLog()
    _runner(tmp_path / "sync", [sync_log], save_format=save_format).train()
    _runner(tmp_path / "async", [async_log], save_format=save_format, async_save=True).train()
    assert async_log.losses == sync_log.losses
    suffix = ".pth" if save_format == "pth" else ""
    for it in (4, 8, 12):
        a, s = _weights(tmp_path / "async" / f"iter_{it}{suffix}"), _weights(tmp_path / "sync" / f"iter_{it}{suffix}")
        assert a.keys() == s.keys() and all(torch.equal(a[k], s[k]) for k in a)
    assert (tmp_path / "async" / "last_checkpoint").read_text() == str(tmp_path / "async" / f"iter_12{suffix}")


def test_save_in_flight_at_the_end_of_training_is_completed(tmp_path, monkeypatch):
    import kiln.runner.checkpointing as checkpointing

    release, real = threading.Event(), checkpointing.save_checkpoint_file

    def slow_write(checkpoint, path, save_format="pth"):
        if str(path).endswith("iter_12.pth"):  # only the last save is held back (the earlier
            assert release.wait(timeout=60)   # ones must finish: each save waits for the previous)
        return real(checkpoint, path, save_format=save_format)

    monkeypatch.setattr(checkpointing, "save_checkpoint_file", slow_write)
    seen = {}

    class Probe(Hook):  # runs before CheckpointHook (VERY_LOW) in after_train

        def after_train(self, runner):
            seen["in_flight"] = not (tmp_path / "run" / "iter_12.pth").exists()
            release.set()

    _runner(tmp_path / "run", [Probe()], async_save=True).train()
    assert seen["in_flight"]  # the last save was still being written when training ended ...
    assert (tmp_path / "run" / "iter_12.pth").is_file()  # ... and train() returned after it completed
    assert (tmp_path / "run" / "last_checkpoint").read_text() == str(tmp_path / "run" / "iter_12.pth")


def test_failed_background_write_is_raised_and_never_named_last(tmp_path, monkeypatch):
    import kiln.runner.checkpointing as checkpointing

    real, calls = checkpointing.save_checkpoint_file, []

    def failing_second(checkpoint, path, save_format="pth"):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(checkpoint, path, save_format=save_format)

    monkeypatch.setattr(checkpointing, "save_checkpoint_file", failing_second)
    with pytest.raises(CheckpointError, match="No space left"):
        _runner(tmp_path / "run", async_save=True).train()  # raised at the save of iter_12
    work = tmp_path / "run"
    assert not (work / "iter_8.pth").exists()
    assert (work / "last_checkpoint").read_text() == str(work / "iter_4.pth")


def test_staging_copies_so_training_may_change_the_weights():
    weights = {"w": torch.ones(3), "nested": [torch.zeros(2)]}
    staged = stage_to_cpu(weights)
    weights["w"].add_(1)
    weights["nested"][0].add_(5)
    assert torch.equal(staged["w"], torch.ones(3)) and torch.equal(staged["nested"][0], torch.zeros(2))
    failing = write_in_background(lambda: 1 / 0, "x.pth")
    with pytest.raises(CheckpointError, match="x.pth"):
        failing.wait()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: staging into pinned memory")
def test_staging_from_cuda_is_pinned():
    staged = stage_to_cpu({"w": torch.ones(3, device="cuda")})
    assert staged["w"].is_pinned() and staged["w"].device.type == "cpu"
