"""RuntimeInfoHook: what it puts in the message hub, and that it does not sync logged tensors."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kiln.hooks.hook import get_priority
from kiln.hooks.runtime_info_hook import RuntimeInfoHook
from kiln.logging.message_hub import MessageHub
from kiln.registry import HOOKS


def make_runner(name):
    optim = SimpleNamespace(get_lr=lambda: {"lr": [0.1, 0.2], "base_lr": [0.5]})
    dataset = SimpleNamespace(metainfo={"classes": ["a", "b"]})
    return SimpleNamespace(message_hub=MessageHub(name), epoch=2, iter=7, max_epochs=5, max_iters=50,
                           optim_wrapper=optim, experiment_name="exp", seed=3, cfg=None,
                           train_dataloader=SimpleNamespace(dataset=dataset))


def test_priority_and_registry():
    assert get_priority(RuntimeInfoHook.priority) == 10
    assert isinstance(HOOKS.build(dict(type="RuntimeInfoHook")), RuntimeInfoHook)


def test_train_info_lr_and_outputs(monkeypatch):
    runner = make_runner("rih-train")
    hub, hook = runner.message_hub, RuntimeInfoHook()
    hook.before_run(runner)
    assert hub.get_info("seed") == 3 and hub.get_info("experiment_name") == "exp"
    hook.before_train(runner)
    assert [hub.get_info(k) for k in ("loop_stage", "epoch", "iter", "max_epochs", "max_iters")] == \
        ["train", 2, 7, 5, 50]
    assert hub.get_info("dataset_meta") == {"classes": ["a", "b"]}
    hook.before_train_iter(runner, 0)
    assert hub.get_scalar("train/lr").current() == 0.1  # first param group
    assert hub.get_scalar("train/base_lr").current() == 0.5

    def no_sync(*args, **kwargs):
        raise AssertionError("a logged tensor was synced in after_train_iter")

    monkeypatch.setattr(torch.Tensor, "item", no_sync)
    loss = torch.tensor(0.25, requires_grad=True) * 2
    hook.after_train_iter(runner, 0, outputs={"loss": loss, "acc": torch.tensor(1.0)})
    monkeypatch.undo()
    assert hub.get_scalar("train/loss").current() == 0.5
    hook.after_train(runner)
    assert hub.get_info("loop_stage") is None


def test_bad_get_lr_is_reported():
    runner = make_runner("rih-badlr")
    runner.optim_wrapper = SimpleNamespace(get_lr=lambda: {"lr": 0.1})
    with pytest.raises(TypeError, match="get_lr"):  # before training starts
        RuntimeInfoHook().before_train(runner)
    hook = RuntimeInfoHook()
    hook.before_train_iter(runner, 0)  # a wrapper that turns bad mid-run: caught when filed
    with pytest.raises(TypeError, match="get_lr"):
        runner.message_hub.get_scalar("train/lr")


def test_val_metrics_and_loop_stage_restored():
    runner = make_runner("rih-val")
    hub, hook = runner.message_hub, RuntimeInfoHook()
    hook.before_train(runner)
    hook.before_val(runner)
    assert hub.get_info("loop_stage") == "val"
    metrics = {"accuracy": torch.tensor(90.0), "top": 3, "cm": np.eye(2), "name": "x"}
    hook.after_val_epoch(runner, metrics)
    assert hub.get_scalar("val/accuracy").current() == 90.0
    assert hub.get_scalar("val/top").current() == 3
    assert np.array_equal(hub.get_info("val/cm"), np.eye(2)) and hub.get_info("val/name") == "x"
    hook.after_val(runner)
    assert hub.get_info("loop_stage") == "train"


def test_test_stage_alone():
    runner = make_runner("rih-test")
    hub, hook = runner.message_hub, RuntimeInfoHook()
    hook.before_test(runner)
    hook.after_test_epoch(runner, {"acc": 0.5})
    assert hub.get_scalar("test/acc").current() == 0.5
    hook.after_test(runner)
    assert hub.get_info("loop_stage") is None


def test_grad_norm_is_logged_after_an_optimizer_step_without_sync(monkeypatch):
    from kiln.optim import OptimWrapper

    net = torch.nn.Linear(3, 1)
    wrapper = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1), accumulative_counts=2,
                           clip_grad=dict(max_norm=1.0))
    wrapper.initialize_count_status(net, 0, 4)
    runner = make_runner("rih-gradnorm")
    runner.optim_wrapper = wrapper
    hub, hook = runner.message_hub, RuntimeInfoHook()

    def no_sync(*args, **kwargs):
        raise AssertionError("the gradient norm was synced in after_train_iter")

    wrapper.update_params(net(torch.ones(2, 3)).sum())  # accumulation only: no step, no norm yet
    hook.after_train_iter(runner, 0, outputs={"loss": torch.tensor(1.0)})
    assert "train/grad_norm" not in hub.log_scalars
    wrapper.update_params(net(torch.ones(2, 3)).sum())  # closes the window: clip + step
    monkeypatch.setattr(torch.Tensor, "item", no_sync)
    monkeypatch.setattr(torch.Tensor, "tolist", no_sync)
    hook.after_train_iter(runner, 1, outputs={"loss": torch.tensor(1.0)})
    monkeypatch.undo()
    assert hub.get_scalar("train/grad_norm").current() == pytest.approx(float(wrapper.grad_norm))
    wrapper.update_params(net(torch.ones(2, 3)).sum())  # accumulation step: the old norm is not re-logged
    hook.after_train_iter(runner, 2, outputs={"loss": torch.tensor(1.0)})
    assert len(hub.get_scalar("train/grad_norm")) == 1


def test_grad_norm_appears_in_the_log_line_when_clip_grad_is_set(tmp_path, capsys):
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from kiln.model import BaseModel
    from kiln.runner import Runner

    class Net(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x, y, mode="tensor"):
            return {"loss": F.cross_entropy(self.fc(x), y)}

    data = TensorDataset(torch.randn(40, 4), torch.randint(0, 2, (40,)))
    runner = Runner(model=Net(), work_dir=str(tmp_path), train_dataloader=DataLoader(data, batch_size=4),
                    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1), clip_grad=dict(max_norm=1.0)),
                    train_cfg=dict(by_epoch=True, max_epochs=1), default_hooks=dict(checkpoint=None),
                    randomness=dict(seed=0))
    runner.train()
    lines = [line for line in capsys.readouterr().out.splitlines() if "Epoch(train)" in line]
    assert lines and all("grad_norm: " in line for line in lines)
