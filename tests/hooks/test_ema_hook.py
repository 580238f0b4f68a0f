"""EMAHook: updates after each iteration, swaps for val/test, MMEngine checkpoint layout, resume."""

import copy
import os

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.hooks import EMAHook, Hook


class FakeRunner:
    def __init__(self, model, resume=False):
        self.model = model
        self.epoch, self.iter = 0, 0
        self.max_epochs, self.max_iters = 3, 30
        self._resume = resume


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))


def _step(model, value):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def _ready(momentum=0.5, **kwargs):
    model = _model()
    runner = FakeRunner(model)
    hook = EMAHook(momentum=momentum, **kwargs)
    hook.before_run(runner)
    hook.before_train(runner)
    return hook, runner, model


def test_update_follows_mmengine_momentum():
    hook, runner, model = _ready(momentum=0.25)
    _step(model, 1.0)
    hook.after_train_iter(runner, 0)  # first update copies
    _step(model, 3.0)
    runner.iter = 1
    hook.after_train_iter(runner, 1)  # avg = 0.75 * 1 + 0.25 * 3
    assert torch.allclose(hook.ema_model.module[0].weight, torch.full((3, 3), 1.5))


def test_begin_iter_copies_until_start():
    hook, runner, model = _ready(momentum=0.25, begin_iter=3)
    for it, value in enumerate([1.0, 2.0, 5.0]):
        runner.iter = it
        _step(model, value)
        hook.after_train_iter(runner, it)
    # iterations 0 and 1 copy; iteration 2 (iter + 1 == 3) is the first real update (steps == 0 → copy)
    assert torch.equal(hook.ema_model.module[0].weight, torch.full((3, 3), 5.0))
    runner.iter = 3
    _step(model, 1.0)
    hook.after_train_iter(runner, 3)
    assert torch.allclose(hook.ema_model.module[0].weight, torch.full((3, 3), 4.0))


def test_val_and_test_use_ema_weights_then_restore():
    hook, runner, model = _ready()
    _step(model, 1.0)
    hook.after_train_iter(runner, 0)
    _step(model, 3.0)
    hook.after_train_iter(runner, 1)  # ema = 2.0, model = 3.0
    for before, after in ((hook.before_val_epoch, hook.after_val_epoch),
                          (hook.before_test_epoch, hook.after_test_epoch)):
        before(runner)
        assert torch.equal(model[0].weight, torch.full((3, 3), 2.0))
        after(runner, {})
        assert torch.equal(model[0].weight, torch.full((3, 3), 3.0))


def test_checkpoint_layout_and_exact_resume():
    hook, runner, model = _ready()
    _step(model, 1.0)
    hook.after_train_iter(runner, 0)
    _step(model, 3.0)
    hook.after_train_iter(runner, 1)
    checkpoint = {"state_dict": copy.deepcopy(model.state_dict())}
    hook.before_save_checkpoint(runner, checkpoint)
    # deployable weights in state_dict, raw ones (module.-prefixed) + steps in ema_state_dict
    assert torch.equal(checkpoint["state_dict"]["0.weight"], torch.full((3, 3), 2.0))
    assert torch.equal(checkpoint["ema_state_dict"]["module.0.weight"], torch.full((3, 3), 3.0))
    assert int(checkpoint["ema_state_dict"]["steps"]) == 2

    fresh = _model()
    runner2 = FakeRunner(fresh, resume=True)
    hook2 = EMAHook(momentum=0.5)
    hook2.before_run(runner2)
    hook2.after_load_checkpoint(runner2, checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # what the loader does next
    assert torch.equal(fresh[0].weight, torch.full((3, 3), 3.0))  # training continues from raw weights
    assert torch.equal(hook2.ema_model.module[0].weight, torch.full((3, 3), 2.0))
    assert hook2.ema_model._steps == 2


def test_old_checkpoint_without_ema_seeds_from_state_dict(capsys):
    model = _model()
    _step(model, 4.0)
    checkpoint = {"state_dict": copy.deepcopy(model.state_dict())}
    runner = FakeRunner(_model(), resume=True)
    hook = EMAHook()
    hook.before_run(runner)
    hook.after_load_checkpoint(runner, checkpoint)
    assert torch.equal(hook.ema_model.module[0].weight, torch.full((3, 3), 4.0))
    assert "There is no `ema_state_dict` in checkpoint" in capsys.readouterr().out


def test_load_from_without_resume_takes_ema_weights():
    hook, runner, model = _ready()
    checkpoint = {"state_dict": {k: torch.full_like(v, 7.0) if v.is_floating_point() else v
                                 for k, v in model.state_dict().items()},
                  "ema_state_dict": {}}
    hook.after_load_checkpoint(runner, checkpoint)  # runner._resume is False
    assert torch.equal(hook.ema_model.module[0].weight, torch.full((3, 3), 7.0))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="both set"):
        EMAHook(begin_iter=2, begin_epoch=1)
    with pytest.raises(ConfigError, match="begin_iter"):
        EMAHook(begin_iter=-1)
    hook = EMAHook(begin_epoch=9)
    runner = FakeRunner(_model())
    hook.before_run(runner)
    with pytest.raises(ConfigError, match="after the last epoch"):
        hook.before_train(runner)


def test_runner_validates_and_saves_best_with_ema_weights(tmp_path):
    """Through the Runner: validation sees EMA weights; the best file holds them in state_dict."""
    from kiln.evaluator import BaseMetric
    from kiln.model import BaseModel
    from kiln.runner import Runner

    class Reg(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x, y, mode="tensor"):
            out = self.fc(x).squeeze(1)
            return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else [(out, y)]

    class NegMSE(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results += [float(((o - y) ** 2).mean()) for o, y in data_samples]

        def compute_metrics(self, results):
            return {"acc": -sum(results) / len(results)}

    seen = []

    class Spy(Hook):
        priority = "LOWEST"

        def before_val_epoch(self, runner):
            seen.append(runner.model.fc.weight.detach().clone())

    g = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(12, 2, generator=g), torch.randn(12, generator=g)))
    loader = dict(dataset=data, batch_size=4, collate_fn=dict(type="default_collate"))
    torch.manual_seed(0)
    ema = EMAHook(momentum=0.2)
    runner = Runner(model=Reg(), work_dir=str(tmp_path), train_dataloader=loader, val_dataloader=loader,
                    val_cfg=dict(), val_evaluator=NegMSE(), train_cfg=dict(by_epoch=True, max_epochs=2),
                    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
                    default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=1,
                                                                      save_best="acc")),
                    custom_hooks=[ema, Spy()], randomness=dict(seed=0))
    runner.train()
    assert torch.equal(seen[-1], ema.ema_model.module.fc.weight)  # validation ran with EMA weights
    assert not torch.equal(runner.model.fc.weight, ema.ema_model.module.fc.weight)  # swapped back
    best = [p for p in os.listdir(tmp_path) if p.startswith("best_acc_epoch_") and p.endswith(".pth")]
    assert len(best) == 1
    ckpt = torch.load(tmp_path / best[0], weights_only=True)
    assert "ema_state_dict" in ckpt and "module.fc.weight" in ckpt["ema_state_dict"]
    last = torch.load(tmp_path / "epoch_2.pth", weights_only=True)
    assert torch.equal(last["state_dict"]["fc.weight"], ema.ema_model.module.fc.weight)
    assert torch.equal(last["ema_state_dict"]["module.fc.weight"], runner.model.fc.weight)
