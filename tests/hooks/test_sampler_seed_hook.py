import pytest

from kiln.hooks import DistSamplerSeedHook
from kiln.registry import HOOKS


def test_the_hook_acts_at_no_stage_so_dispatch_never_calls_it():
    assert DistSamplerSeedHook().get_triggered_stages() == []


def test_registered_with_normal_priority():
    assert HOOKS.get("DistSamplerSeedHook") is DistSamplerSeedHook
    assert DistSamplerSeedHook.priority == "NORMAL"


@pytest.mark.parametrize("sampler_seed", [dict(type="DistSamplerSeedHook"), None])
def test_each_epoch_of_a_run_gets_its_own_order(tmp_path, sampler_seed):
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
           default_hooks=dict(checkpoint=None, sampler_seed=sampler_seed)).train()
    orders = [seen.per_epoch[e] for e in range(3)]
    assert all(sorted(o) == [float(i) for i in range(16)] for o in orders)
    assert orders[0] != orders[1] != orders[2]
