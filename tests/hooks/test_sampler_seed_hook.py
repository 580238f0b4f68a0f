from types import SimpleNamespace

from kiln.hooks import DistSamplerSeedHook
from kiln.registry import HOOKS


class EpochSampler:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def _runner(loader, epoch):
    return SimpleNamespace(train_loop=SimpleNamespace(dataloader=loader), epoch=epoch)


def test_sets_the_epoch_on_the_sampler():
    sampler = EpochSampler()
    DistSamplerSeedHook().before_train_epoch(_runner(SimpleNamespace(sampler=sampler), 3))
    assert sampler.epochs == [3]


def test_falls_back_to_the_batch_sampler_sampler():
    inner = EpochSampler()
    loader = SimpleNamespace(sampler=object(), batch_sampler=SimpleNamespace(sampler=inner))
    DistSamplerSeedHook().before_train_epoch(_runner(loader, 5))
    assert inner.epochs == [5]


def test_samplers_without_set_epoch_are_left_alone():
    DistSamplerSeedHook().before_train_epoch(_runner(SimpleNamespace(sampler=object()), 1))


def test_registered_with_normal_priority():
    assert HOOKS.get("DistSamplerSeedHook") is DistSamplerSeedHook
    assert DistSamplerSeedHook.priority == "NORMAL"


def test_each_epoch_of_a_run_gets_its_own_order(tmp_path):
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

    class Seen(Hook):
        def __init__(self):
            self.per_epoch = {}

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.per_epoch.setdefault(runner.epoch, []).extend(data_batch[0][:, 0].tolist())

    seen = Seen()
    data = [(torch.tensor([float(i)]), torch.tensor(i % 2)) for i in range(16)]
    Runner(model=Net(), work_dir=str(tmp_path), randomness=dict(seed=0), custom_hooks=[seen],
           train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=True),
                                 collate_fn=dict(type="default_collate")),
           optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=3),
           default_hooks=dict(checkpoint=None)).train()
    orders = [seen.per_epoch[e] for e in range(3)]
    assert all(sorted(o) == [float(i) for i in range(16)] for o in orders)
    assert orders[0] != orders[1] != orders[2]
