from types import SimpleNamespace

from kiln.hooks import ParamSchedulerHook
from kiln.registry import HOOKS


class FakeScheduler:
    def __init__(self, by_epoch, need_val_args=False):
        self.by_epoch = by_epoch
        self.need_val_args = need_val_args
        self.steps = []

    def step(self, *args):
        self.steps.append(args)


def _hook_and_schedulers(grouped=False):
    iter_s, epoch_s, plateau = FakeScheduler(False), FakeScheduler(True), FakeScheduler(True, need_val_args=True)
    schedulers = {"gen": [iter_s], "disc": [epoch_s, plateau]} if grouped else [iter_s, epoch_s, plateau]
    return ParamSchedulerHook(), SimpleNamespace(param_schedulers=schedulers), (iter_s, epoch_s, plateau)


def test_iteration_based_step_after_each_train_iter():
    hook, runner, (iter_s, epoch_s, plateau) = _hook_and_schedulers()
    hook.after_train_iter(runner, batch_idx=0)
    assert (len(iter_s.steps), len(epoch_s.steps), len(plateau.steps)) == (1, 0, 0)


def test_epoch_based_step_after_each_train_epoch():
    hook, runner, (iter_s, epoch_s, plateau) = _hook_and_schedulers()
    hook.after_train_epoch(runner)
    assert (len(iter_s.steps), len(epoch_s.steps), len(plateau.steps)) == (0, 1, 0)


def test_metric_driven_ones_step_after_val_with_the_metrics():
    hook, runner, (iter_s, epoch_s, plateau) = _hook_and_schedulers()
    hook.after_val_epoch(runner, metrics={"loss": 0.5})
    assert plateau.steps == [({"loss": 0.5},)] and not iter_s.steps and not epoch_s.steps
    hook.after_val_epoch(runner, metrics=None)
    assert len(plateau.steps) == 1


def test_dict_of_scheduler_lists_and_none():
    hook, runner, (iter_s, epoch_s, _) = _hook_and_schedulers(grouped=True)
    hook.after_train_iter(runner, batch_idx=0)
    hook.after_train_epoch(runner)
    assert len(iter_s.steps) == 1 and len(epoch_s.steps) == 1
    hook.after_train_epoch(SimpleNamespace(param_schedulers=None))


def test_registered_with_low_priority():
    assert HOOKS.get("ParamSchedulerHook") is ParamSchedulerHook
    assert ParamSchedulerHook.priority == "LOW"


def test_lr_follows_the_schedule_in_a_run(tmp_path):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from kiln.hooks import Hook
    from kiln.model import BaseModel
    from kiln.runner import Runner

    class Net(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 2)

        def forward(self, x, y, mode="tensor"):
            return {"loss": F.cross_entropy(self.fc(x), y)}

    class LrLog(Hook):
        def __init__(self):
            self.lrs = []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.lrs.append(runner.optim_wrapper.get_lr()["lr"][0])

    log = LrLog()
    data = [(torch.tensor([float(i)]), torch.tensor(i % 2)) for i in range(8)]
    Runner(model=Net(), work_dir=str(tmp_path), custom_hooks=[log], default_hooks=dict(checkpoint=None),
           train_dataloader=dict(dataset=data, batch_size=4, collate_fn=dict(type="default_collate")),
           optim_wrapper=dict(optimizer=dict(type="SGD", lr=1.0)), train_cfg=dict(by_epoch=True, max_epochs=3),
           param_scheduler=[dict(type="LinearLR", start_factor=0.5, by_epoch=False, begin=0, end=3),
                            dict(type="MultiStepLR", milestones=[2], gamma=0.1, by_epoch=True)]).train()
    expected = [0.5, 0.75, 1.0, 1.0, 0.1, 0.1]
    assert [round(v, 6) for v in log.lrs] == expected
