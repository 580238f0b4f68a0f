"""The silent losses of issue 11 §3, each tried as a user would: resume without last_checkpoint,
another model's checkpoint, mid-epoch resume with random augmentation in workers, keep-N after a
resume, several save_best keys, an empty dataset, lr='0.1', a failed train() leaving files open."""

import os
import shutil

import pytest
import torch
from torch import nn

from kiln.errors import CheckpointError, ConfigError
from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.runner import Runner


class Net(BaseModel):
    def __init__(self, hidden=8):
        super().__init__(init_cfg=[dict(type="Constant", val=0.5, layer="Linear")])
        self.fc1, self.fc2 = nn.Linear(4, hidden), nn.Linear(hidden, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.relu(self.fc1(x))).squeeze(1)
        return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out


class Augmented(torch.utils.data.Dataset):
    """Random augmentation drawn in __getitem__ (inside DataLoader workers when num_workers > 0)."""

    def __init__(self, n=16):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 4, generator=g), torch.randn(n, generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i] + 0.5 * torch.randn(4), self.y[i]


class Record(Hook):
    priority = "LOWEST"

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append((runner.iter, outputs["loss"].item()))


def make(work_dir, resume=False, hidden=8, workers=0, checkpoint=None, dataset=None, **kwargs):
    record = Record()
    runner = Runner(
        model=dict(type=Net, hidden=hidden), work_dir=str(work_dir),
        train_dataloader=dict(dataset=dataset if dataset is not None else Augmented(), batch_size=4,
                              num_workers=workers, sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=kwargs.pop("optim_wrapper", dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9))),
        train_cfg=dict(by_epoch=True, max_epochs=kwargs.pop("max_epochs", 2)),
        default_hooks=dict(logger=None, checkpoint=checkpoint or dict(type="CheckpointHook", interval=1)),
        custom_hooks=[record], randomness=dict(seed=1), resume=resume, **kwargs)
    return runner, record


@pytest.mark.parametrize("pointer", ["missing", "empty"])
def test_resume_without_last_checkpoint_uses_the_newest_checkpoint_that_loads(tmp_path, capsys, pointer):
    make(tmp_path, max_epochs=2)[0].train()
    (tmp_path / "epoch_2.pth").write_bytes(b"truncated")  # the newest one does not load
    if pointer == "missing":
        os.remove(tmp_path / "last_checkpoint")
    else:
        (tmp_path / "last_checkpoint").write_text("")
    capsys.readouterr()
    runner, record = make(tmp_path, resume=True, max_epochs=3)
    runner.train()
    out = capsys.readouterr().out
    assert f"resuming from the newest checkpoint that loads: {tmp_path / 'epoch_1.pth'}" in out
    assert "skipped, unreadable: epoch_2.pth" in out and "Did not find last_checkpoint" not in out
    assert record.losses[0][0] == 4  # epoch 2 is trained again from epoch_1.pth, not from scratch


def test_resume_errors_when_checkpoints_exist_but_none_loads(tmp_path):
    make(tmp_path, max_epochs=1)[0].train()
    (tmp_path / "epoch_1.pth").write_bytes(b"garbage")
    os.remove(tmp_path / "last_checkpoint")
    with pytest.raises(CheckpointError, match=r"none of the 1 checkpoint\(s\) in .* loads: epoch_1.pth"):
        make(tmp_path, resume=True)[0].train()


def test_resume_refuses_another_models_checkpoint_before_changing_anything(tmp_path):
    make(tmp_path / "small", max_epochs=1)[0].train()
    shutil.copy(tmp_path / "small" / "epoch_1.pth", tmp_path / "epoch_1.pth")
    shutil.copy(tmp_path / "small" / "epoch_1.pth.sha256", tmp_path / "epoch_1.pth.sha256")
    runner, _ = make(tmp_path / "big", hidden=16, load_from=str(tmp_path / "epoch_1.pth"), resume=True)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        runner.train()
    message = str(info.value)
    assert "it does not hold this model's weights (3 key(s) differ; first: fc1.weight: checkpoint (8, 4) " \
           "vs model (16, 4)" in message and "Nothing was changed" in message
    assert all(torch.equal(v, runner.model.state_dict()[k]) for k, v in before.items())
    # load_from (not resume) stays lenient: what fits is loaded, the rest reported
    make(tmp_path / "ft", hidden=16, load_from=str(tmp_path / "epoch_1.pth"), max_epochs=1)[0].train()


def test_mid_epoch_resume_with_random_augmentation_in_two_workers_is_bitwise(tmp_path):
    every_3 = dict(type="CheckpointHook", by_epoch=False, interval=3)
    reference, ref_record = make(tmp_path / "ref", workers=2, checkpoint=every_3)
    reference.train()
    work_dir = tmp_path / "resumed"
    work_dir.mkdir()
    for name in ("iter_3.pth", "iter_3.pth.sha256"):  # a run that stopped after iteration 3 of 4
        shutil.copy(tmp_path / "ref" / name, work_dir / name)
    resumed, record = make(work_dir, resume=True, workers=2, checkpoint=every_3)
    resumed.train()
    assert record.losses[0][0] == 3
    assert record.losses == ref_record.losses[3:]


def test_max_keep_ckpts_after_resume_deletes_the_checkpoint_resumed_from(tmp_path):
    keep_1 = dict(type="CheckpointHook", interval=1, max_keep_ckpts=1)
    make(tmp_path, max_epochs=2, checkpoint=keep_1)[0].train()
    make(tmp_path, resume=True, max_epochs=4, checkpoint=keep_1)[0].train()
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["epoch_4.pth"]


def test_several_save_best_keys_are_read_back_per_key(tmp_path):
    from kiln.hooks import CheckpointHook
    from kiln.logging import MessageHub

    class FakeRunner:
        work_dir = str(tmp_path)
        message_hub = MessageHub.get_instance("silent-losses-best")

    FakeRunner.message_hub.update_info("best_ckpt_acc", "best_acc_epoch_2.pth")
    FakeRunner.message_hub.update_info("best_ckpt_loss", "best_loss_epoch_1.pth")
    hook = CheckpointHook(save_best=["acc", "loss"])
    hook.before_train(FakeRunner())
    assert hook.best_ckpt_path == {"acc": "best_acc_epoch_2.pth", "loss": "best_loss_epoch_1.pth"}


def test_empty_train_dataset_fails_before_init_weights(tmp_path):
    runner, _ = make(tmp_path, dataset=torch.utils.data.TensorDataset(torch.zeros(0, 4), torch.zeros(0)))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(ConfigError, match=r"^train_dataloader.dataset: the dataset \(TensorDataset\) is empty"):
        runner.train()
    assert all(torch.equal(v, runner.model.state_dict()[k]) for k, v in before.items())


def test_lr_given_as_a_string_names_the_config_key(tmp_path):
    runner, _ = make(tmp_path, optim_wrapper=dict(optimizer=dict(type="SGD", lr="0.1")))
    with pytest.raises(ConfigError, match=r"^optim_wrapper.optimizer.lr: expected a number, but got the "
                                          r"string '0.1'"):
        runner.train()


def test_a_failed_train_closes_the_scalars_files_and_logs_the_traceback(tmp_path):
    class Boom(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 2:
                raise KeyError("boom")

    runner = Runner(
        model=dict(type=Net), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=Augmented(), batch_size=4, collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.05)), train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=1)), custom_hooks=[Boom()])
    with pytest.raises(KeyError):
        runner.train()
    backends = runner.visualizer._backends.values()
    assert backends and all(not getattr(b, "_files", {}) for b in backends)  # every file closed
    scalars = list(tmp_path.glob("*/vis_data/scalars.json"))
    assert scalars and scalars[0].read_text().count("\n") == 2  # iterations 1 and 2 were flushed
    log = next(tmp_path.glob("*/*.log")).read_text()
    assert "train() failed: KeyError: 'boom'" in log and "Traceback (most recent call last)" in log
