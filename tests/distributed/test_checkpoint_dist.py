"""Checkpoints in a 2-process (gloo, CPU) run: rank 0 writes each file once, every rank resumes
from it, and loading a different model with strict=True raises on EVERY rank (no rank hangs)."""

import os

import torch
from _launch import spawn
from torch import nn

from kiln.model import BaseModel


class Net(BaseModel):
    def __init__(self, hidden=8):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, hidden), nn.Linear(hidden, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.relu(self.fc1(x))).squeeze(1)
        return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out


def _runner(work_dir, model, max_epochs, resume=False):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(16, 4, generator=generator), torch.randn(16, generator=generator)))
    torch.manual_seed(0)
    return Runner(
        model=model, work_dir=work_dir, launcher="pytorch", env_cfg=dict(dist_cfg=dict(backend="gloo")),
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=1)),
        randomness=dict(seed=1), resume=resume)


def _worker(rank, port, out_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from kiln.errors import CheckpointError

    result = {}
    try:
        work_dir = os.path.join(out_dir, "work")
        _runner(work_dir, Net(), max_epochs=1).train()
        resumed = _runner(work_dir, Net(), max_epochs=2, resume=True)
        resumed.train()
        result["resumed_iter"] = resumed.iter
        other = _runner(os.path.join(out_dir, "other"), Net(hidden=6), max_epochs=1)
        try:
            other.load_checkpoint(os.path.join(work_dir, "epoch_1.pth"), strict=True)
            result["strict"] = "loaded"
        except CheckpointError as exc:
            result["strict"] = str(exc)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))



def test_rank0_writes_every_rank_resumes_and_strict_raises_everywhere(tmp_path):
    spawn(_worker, lambda port: (port, str(tmp_path)))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    work = tmp_path / "work"
    assert sorted(p for p in os.listdir(work) if p.endswith(".pth")) == ["epoch_1.pth", "epoch_2.pth"]
    assert not [p for p in os.listdir(work) if p.endswith(".tmp")]
    assert (work / "last_checkpoint").read_text() == str(work / "epoch_2.pth")
    meta = torch.load(work / "epoch_1.pth", weights_only=True)["meta"]
    assert meta["world_size"] == 2
    for r in ranks:
        assert r["resumed_iter"] == 4  # 16 samples / (2 ranks x 4) per epoch, 2 epochs
        assert "shape mismatch" in r["strict"] and "fc1.weight" in r["strict"]
