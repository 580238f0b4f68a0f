"""SyncBuffersHook in a 2-process (gloo, CPU) Runner run: kiln's DDP (broadcast_buffers=False) leaves
each rank its own BatchNorm statistics; after each train epoch the hook makes them equal (their mean)."""

import os

import torch
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel


def _buffers(model):
    bn = model.module.bn
    return {"mean": bn.running_mean.clone(), "var": bn.running_var.clone(), "tracked": bn.num_batches_tracked.clone()}


class BeforeSync(Hook):
    """Runs before SyncBuffersHook (HIGH < NORMAL) at the end of the epoch: each rank's own statistics."""

    priority = "HIGH"

    def after_train_epoch(self, runner):
        self.buffers = _buffers(runner.model)


class BNNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x, y, mode="tensor"):
        out = self.fc(self.bn(x))
        return {"loss": F.cross_entropy(out, y)} if mode == "loss" else out


def _run(work_dir):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=generator) * 3 + 1
    data = list(zip(x, torch.randint(0, 2, (16,), generator=generator)))
    torch.manual_seed(0)
    runner = Runner(
        model=BNNet(), work_dir=work_dir, launcher="pytorch", env_cfg=dict(dist_cfg=dict(backend="gloo")),
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=False),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=None, logger=None), randomness=dict(seed=0),
        custom_hooks=[dict(type="SyncBuffersHook"), before := BeforeSync()])
    runner.train()
    return {"plain": before.buffers, "synced": _buffers(runner.model)}


def _worker(rank, port, out_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = _run(os.path.join(out_dir, "work"))
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def test_buffers_equal_after_an_epoch(tmp_path):
    spawn(_worker, lambda port: (port, str(tmp_path)))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    # before the hook each rank has the statistics of its own shard (the test can fail)
    assert not torch.allclose(r0["plain"]["mean"], r1["plain"]["mean"])
    for key in ("mean", "var", "tracked"):
        assert torch.equal(r0["synced"][key], r1["synced"][key]), key
        expected = (r0["plain"][key].float() + r1["plain"][key].float()) / 2
        assert torch.allclose(r0["synced"][key].float(), expected, atol=1e-6), key
