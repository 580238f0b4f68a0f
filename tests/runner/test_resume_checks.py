"""Resume and load through the Runner: checkpoint contents, sampler-level skipping, changed
config, world size, corrupt files, a different model, non-finite weights, MMEngine files."""

import os

import pytest
import torch
from torch import nn

from kiln.errors import CheckpointError
from kiln.model import BaseModel
from kiln.runner import Runner


class Net(BaseModel):
    def __init__(self, hidden=8):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, hidden), nn.Linear(hidden, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.relu(self.fc1(x))).squeeze(1)
        return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out


class Data(torch.utils.data.Dataset):
    """Records which indices were actually loaded."""

    def __init__(self, n=20):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 4, generator=g), torch.randn(n, generator=g)
        self.loaded = []

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        self.loaded.append(i)
        return self.x[i], self.y[i]


def make_runner(work_dir, model=None, data=None, resume=False, load_from=None, by_epoch=True,
                max_epochs=2, milestones=(1,), checkpoint=None, **kwargs):
    train_cfg = dict(by_epoch=True, max_epochs=max_epochs) if by_epoch else dict(by_epoch=False, max_iters=max_epochs * 4)
    return Runner(
        model=model or Net(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data or Data(), batch_size=5,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9)),
        param_scheduler=dict(type="MultiStepLR", milestones=list(milestones), gamma=0.1),
        train_cfg=train_cfg,
        default_hooks=dict(logger=None, checkpoint=checkpoint or dict(type="CheckpointHook", interval=1)),
        randomness=dict(seed=3), resume=resume, load_from=load_from, **kwargs)


def test_checkpoint_holds_every_part_and_loads_weights_only(tmp_path):
    make_runner(tmp_path, max_epochs=1).train()
    ckpt = torch.load(tmp_path / "epoch_1.pth", weights_only=True)
    assert {"meta", "state_dict", "optimizer", "param_schedulers", "message_hub", "loop_state",
            "sampler", "rng"} <= set(ckpt)
    meta = ckpt["meta"]
    assert (meta["epoch"], meta["iter"], meta["seed"]) == (1, 4, 3)
    assert {"experiment_name", "time", "kiln_version", "world_size"} <= set(meta)
    assert ckpt["loop_state"] == {"epoch": 1, "iter": 4, "batch_idx_in_epoch": 0, "global_batch": 5}
    assert sorted(ckpt["state_dict"]) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert all(v.device.type == "cpu" for v in ckpt["state_dict"].values())
    assert ckpt["message_hub"]["log_scalars"]["train/loss"]["log_history"]
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}


def test_mid_epoch_resume_skips_seen_batches_without_loading_them(tmp_path):
    checkpoint = dict(type="CheckpointHook", interval=2, by_epoch=False)
    make_runner(tmp_path, max_epochs=1, checkpoint=checkpoint).train()   # saves iter_2 and iter_4
    with open(tmp_path / "last_checkpoint", "w") as f:
        f.write(str(tmp_path / "iter_2.pth"))
    data = Data()
    runner = make_runner(tmp_path, data=data, max_epochs=1, resume=True, checkpoint=checkpoint)
    runner.train()
    assert runner.iter == 4
    assert len(data.loaded) == 10, "only the 2 remaining batches of 5 samples are loaded"
    saved = torch.load(tmp_path / "iter_2.pth", weights_only=True)
    assert saved["loop_state"]["batch_idx_in_epoch"] * saved["loop_state"]["global_batch"] == 10


def test_changed_schedule_and_max_epochs_apply_and_are_reported(tmp_path, capsys):
    make_runner(tmp_path, max_epochs=1, milestones=(1,)).train()
    capsys.readouterr()
    runner = make_runner(tmp_path, max_epochs=3, milestones=(2,), resume=True)
    runner.train()
    out = capsys.readouterr().out
    assert "train_cfg.max_epochs changed from 1 (checkpoint) to 3 (config)" in out
    assert "param_scheduler[0] (MultiStepLR) differs from the checkpoint" in out
    assert "resuming its progress with the NEW config" in out
    # new milestone 2 applied: lr 0.1 in epoch 2, 0.01 in epoch 3
    history = runner.message_hub.get_scalar("train/lr").data[0]
    assert len(history) == 12, "the first run's 4 logged values continue in the resumed hub"
    assert history[-1] == pytest.approx(0.01) and history[-5] == pytest.approx(0.1)


def test_world_size_change_warns_with_both_sizes(tmp_path, capsys):
    make_runner(tmp_path, max_epochs=1).train()
    ckpt = torch.load(tmp_path / "epoch_1.pth", weights_only=True)
    ckpt["meta"]["world_size"] = 2
    torch.save(ckpt, tmp_path / "epoch_1.pth")
    os.remove(tmp_path / "epoch_1.pth.sha256")  # rewritten on purpose: its recorded digest no longer applies
    capsys.readouterr()
    make_runner(tmp_path, max_epochs=1, resume=True).train()
    assert "saved by 2 process(es) but this run has 1" in capsys.readouterr().out


def test_truncated_checkpoint_names_file_and_previous_one(tmp_path):
    make_runner(tmp_path, max_epochs=2).train()
    path = tmp_path / "epoch_2.pth"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        make_runner(tmp_path, max_epochs=3, resume=True).train()
    message = str(info.value)
    assert str(path) in message and "truncated or corrupt" in message
    assert f"Resume from the previous checkpoint instead: {tmp_path / 'epoch_1.pth'}" in message


def test_different_model_reports_table_and_strict_raises(tmp_path, capsys, caplog):
    make_runner(tmp_path, max_epochs=1).train()
    runner = make_runner(tmp_path / "other", model=Net(hidden=6), max_epochs=1)
    capsys.readouterr()
    runner.load_checkpoint(str(tmp_path / "epoch_1.pth"))
    out = capsys.readouterr().out
    assert "shape mismatch" in out and "fc1.weight" in out and "(8, 4)" in out
    with pytest.raises(CheckpointError, match="fc1.weight"):
        runner.load_checkpoint(str(tmp_path / "epoch_1.pth"), strict=True)


def test_non_finite_weights_are_never_saved(tmp_path):
    runner = make_runner(tmp_path, max_epochs=1)
    runner.train()
    before = (tmp_path / "epoch_1.pth").read_bytes()
    with torch.no_grad():
        runner.model.fc1.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"non-finite.*fc1\.weight.*previous checkpoint is kept"):
        runner.save_checkpoint(str(tmp_path), "epoch_1.pth")
    assert (tmp_path / "epoch_1.pth").read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def _mmengine_fake():
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "checkpoint", "_mmengine_fake.py")
    spec = importlib.util.spec_from_file_location("_mmengine_fake", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fake_mmengine_checkpoint


def test_resume_from_an_mmengine_checkpoint(tmp_path, capsys):
    source = Net()
    optimizer = torch.optim.SGD(source.parameters(), lr=0.1, momentum=0.9)
    path, flag = tmp_path / "mm_epoch_1.pth", tmp_path / "executed"
    _mmengine_fake()(path, flag, state_dict=source.state_dict(),
                     meta={"epoch": 1, "iter": 4, "seed": 3, "mmengine_version": "0.10.7"},
                     optimizer=optimizer.state_dict())
    runner = make_runner(tmp_path / "w", max_epochs=2, resume=True, load_from=str(path))
    runner.train()
    assert not flag.exists()
    assert "resumed epoch: 1, iter: 4" in capsys.readouterr().out
    assert runner.iter == 8 and runner.epoch == 2
    history = runner.message_hub.get_scalar("train/loss").data[0]
    assert list(history[:2]) == [0.5, 0.25]  # MMEngine's history continues
    assert len(history) == 2 + 4


@pytest.mark.parametrize("metainfo,kept", [({"classes": ("cat", "dog")}, True), ({"palette": object()}, False)])
def test_dataset_meta_saved_when_plain_else_left_out(tmp_path, capsys, metainfo, kept):
    data = Data()
    data.metainfo = metainfo
    make_runner(tmp_path, data=data, max_epochs=1).train()
    meta = torch.load(tmp_path / "epoch_1.pth", weights_only=True)["meta"]
    if kept:
        assert meta["dataset_meta"] == {"classes": ("cat", "dog")}
    else:
        assert "dataset_meta" not in meta
        assert "dataset_meta is left out of the checkpoint" in capsys.readouterr().out
