"""A GAN trained by the Runner with two optimizers (MMEngine's OptimWrapperDict route).

The config is MMEngine's multi-optimizer example: one optim wrapper per submodule, schedulers per
optimizer; the model's ``train_step`` picks ``optim_wrapper['generator']`` or
``['discriminator']`` itself. Checked: the two optimizers step alternately and each step moves
only its own parameters, both lrs are scheduled and logged, and a resumed run continues bitwise.
"""

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.optim import OptimWrapperDict
from kiln.runner import Runner


class TinyGAN(BaseModel):
    """Even steps train the discriminator, odd steps the generator (a buffer: resumed with the weights)."""

    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x, mode="tensor"):
        return self.generator(x)

    def train_step(self, data, optim_wrapper):
        real = self.data_preprocessor(data, True)["x"]
        noise = torch.randn_like(real)
        bce = nn.functional.binary_cross_entropy_with_logits
        if int(self.steps) % 2 == 0:
            wrapper = optim_wrapper["discriminator"]
            with wrapper.optim_context(self.discriminator):
                fake = self.generator(noise).detach()
                logits_real, logits_fake = self.discriminator(real), self.discriminator(fake)
                loss = bce(logits_real, torch.ones_like(logits_real)) + bce(logits_fake, torch.zeros_like(logits_fake))
            wrapper.update_params(loss)
            log = {"loss_d": loss.detach()}
        else:
            wrapper = optim_wrapper["generator"]
            self.discriminator.requires_grad_(False)  # the generator's loss must not touch D's grads
            with wrapper.optim_context(self.generator):
                logits = self.discriminator(self.generator(noise))
                loss = bce(logits, torch.ones_like(logits))
            wrapper.update_params(loss)
            self.discriminator.requires_grad_(True)
            log = {"loss_g": loss.detach()}
        self.steps += 1
        return log


class WatchParams(Hook):
    """Records, per iteration, which submodule's parameters moved, and the losses."""

    def __init__(self):
        self.moved, self.losses = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._before = {k: v.detach().clone() for k, v in runner.model.named_parameters()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        after = dict(runner.model.named_parameters())
        moved = {k.split(".")[0] for k, v in self._before.items() if not torch.equal(v, after[k].detach())}
        self.moved.append(moved)
        self.losses.append({k: float(v) for k, v in outputs.items()})


def _collate(batch):
    return dict(x=torch.stack([b[0] for b in batch]))


def _runner(work_dir, max_epochs, hooks=(), acc=1, **kwargs):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(24, 2) * 0.5 + 2.0)
    return Runner(
        model=TinyGAN(), work_dir=str(work_dir),
        train_dataloader=DataLoader(data, batch_size=4, shuffle=True, collate_fn=_collate),
        optim_wrapper=dict(
            generator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=2e-3, betas=(0.5, 0.999)),
                           accumulative_counts=acc),
            discriminator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.5, 0.999)),
                               accumulative_counts=acc)),
        param_scheduler=dict(
            generator=[dict(type="LinearLR", start_factor=0.5, by_epoch=False, begin=0, end=6)],
            # an explicit end: the schedule must not depend on max_epochs, which the resume test changes
            discriminator=dict(type="StepLR", step_size=1, gamma=0.5, by_epoch=True, begin=0, end=2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1),
                           logger=dict(type="LoggerHook", interval=2)),
        custom_hooks=list(hooks), randomness=dict(seed=0), **kwargs)


def _adam_steps(wrapper):
    return {int(state["step"]) for state in wrapper.optimizer.state.values()}


def test_two_optimizers_step_alternately_and_only_their_own_params(tmp_path):
    watch = WatchParams()
    runner = _runner(tmp_path, max_epochs=2, hooks=[watch])
    runner.train()
    assert isinstance(runner.optim_wrapper, OptimWrapperDict)
    assert sorted(runner.optim_wrapper.keys()) == ["discriminator", "generator"]
    # 12 iterations: D at even, G at odd ones; each step moves its own submodule, never the other
    assert watch.moved == [{"discriminator"}, {"generator"}] * 6
    assert _adam_steps(runner.optim_wrapper["discriminator"]) == {6}
    assert _adam_steps(runner.optim_wrapper["generator"]) == {6}
    # no parameter belongs to both optimizers
    g_params = {id(p) for g in runner.optim_wrapper["generator"].param_groups for p in g["params"]}
    d_params = {id(p) for g in runner.optim_wrapper["discriminator"].param_groups for p in g["params"]}
    assert not g_params & d_params and len(g_params | d_params) == len(list(runner.model.parameters()))


def test_schedulers_per_optimizer_and_lr_logged_per_optimizer(tmp_path, capsys):
    runner = _runner(tmp_path, max_epochs=2)
    runner.train()
    assert set(runner.param_schedulers) == {"generator", "discriminator"}
    assert [type(s).__name__ for s in runner.param_schedulers["generator"]] == ["LinearLR"]
    # LinearLR (by iteration, over [0, 6)) reached factor 1; StepLR (by epoch over [0, 2), end
    # exclusive) halved D's lr once, after epoch 1
    assert runner.optim_wrapper.get_lr() == {"generator.lr": [pytest.approx(2e-3)],
                                             "discriminator.lr": [pytest.approx(5e-4)]}
    hub = runner.message_hub
    g_lrs = hub.get_scalar("train/generator.lr").data[0].tolist()
    assert g_lrs == pytest.approx([2e-3 * (0.5 + 0.5 * min(t, 5) / 5) for t in range(12)])
    assert hub.get_scalar("train/discriminator.lr").data[0].tolist() == pytest.approx([1e-3] * 6 + [5e-4] * 6)
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "Epoch(train) [1][2/6]" in ln)
    assert re.search(r"generator\.lr: \d\.\d{4}e-\d\d discriminator\.lr: 1\.0000e-03  eta: ", line)


def test_resume_continues_bitwise(tmp_path):
    whole = WatchParams()
    uninterrupted = _runner(tmp_path / "a", max_epochs=3, hooks=[whole])
    uninterrupted.train()

    _runner(tmp_path / "b", max_epochs=1).train()
    second = WatchParams()
    resumed = _runner(tmp_path / "c", max_epochs=3, hooks=[second],
                      load_from=str(tmp_path / "b" / "epoch_1.pth"), resume=True)
    resumed.train()
    assert second.losses == whole.losses[6:]  # bitwise, both losses
    for (name, a), b in zip(uninterrupted.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    for name in ("generator", "discriminator"):
        sa = uninterrupted.optim_wrapper[name].state_dict()["state"]
        sb = resumed.optim_wrapper[name].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    assert resumed.optim_wrapper.get_lr() == uninterrupted.optim_wrapper.get_lr()


def test_checkpoint_holds_one_optimizer_state_per_name(tmp_path):
    runner = _runner(tmp_path, max_epochs=1)
    runner.train()
    ckpt = torch.load(tmp_path / "epoch_1.pth", weights_only=True)
    assert set(ckpt["optimizer"]) == {"generator", "discriminator"}
    assert set(ckpt["param_schedulers"]) == {"generator", "discriminator"}
    assert len(ckpt["optimizer"]["generator"]["param_groups"][0]["params"]) == 4


def test_resume_inside_both_accumulation_windows_continues_bitwise(tmp_path):
    """accumulative_counts=2 with alternating D/G steps: at the end of epoch 1 (6 iterations) each
    optimizer has one un-stepped backward; the checkpoint must carry those gradients."""
    whole = WatchParams()
    _runner(tmp_path / "a", max_epochs=2, hooks=[whole], acc=2).train()
    _runner(tmp_path / "b", max_epochs=1, acc=2).train()
    assert "accumulated_grads" in torch.load(tmp_path / "b" / "epoch_1.pth", weights_only=True)
    second = WatchParams()
    _runner(tmp_path / "c", max_epochs=2, hooks=[second], acc=2,
            load_from=str(tmp_path / "b" / "epoch_1.pth"), resume=True).train()
    assert second.losses == whole.losses[6:]
    assert second.moved == whole.moved[6:]
