"""FSDP1 (``MMFullyShardedDataParallel``) checkpoints written through the Runner (2 gloo processes):
the file holds the FULL model and optimizer state (not rank 0's flat shard), a 2-rank FSDP1 run
resumes from it with the uninterrupted losses, and a plain 1-process model loads it strictly."""

import os

import pytest
import torch
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel

SHAPES = {"fc1.weight": (16, 4), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,)}


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 3)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.tanh(self.fc1(x)))
        return {"loss": F.cross_entropy(out, y)} if mode == "loss" else out


class LossLog(Hook):
    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = outputs["loss"].item()


FSDP1 = dict(type="MMFullyShardedDataParallel",
             auto_wrap_policy=dict(type="size_based_auto_wrap_policy", min_num_params=1))


def _runner(work_dir, model, log=None, resume=False, load_from=None, max_iters=4, wrapper=None):
    from kiln.runner import Runner

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(32, 4, generator=generator), torch.randint(0, 3, (32,), generator=generator)))
    return Runner(
        model=model, work_dir=str(work_dir), resume=resume, load_from=load_from, randomness=dict(seed=2),
        launcher="pytorch" if torch.distributed.is_initialized() else "none",
        env_cfg=dict(dist_cfg=dict(backend="gloo")), custom_hooks=[log] if log else None,
        cfg=dict(model_wrapper_cfg=wrapper) if wrapper else None,
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=False),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=0.05)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=2, by_epoch=False)))


def _worker(rank, port, out):
    import torch.distributed as dist

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        full = LossLog()
        _runner(os.path.join(out, "full"), Net(), full, wrapper=FSDP1).train()
        resumed = LossLog()
        _runner(os.path.join(out, "full"), Net(), resumed, wrapper=FSDP1,
                load_from=os.path.join(out, "full", "iter_2.pth"), resume=True).train()
        torch.save({"full": full.losses, "resumed": resumed.losses}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_fsdp1_checkpoint_is_full_and_resumes(tmp_path):
    spawn(_worker, lambda port: (port, str(tmp_path)))
    ckpt = torch.load(tmp_path / "full" / "iter_4.pth", weights_only=True)
    assert {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()} == SHAPES
    optim_state = ckpt["optimizer"]["state"]
    assert {k: tuple(v["exp_avg"].shape) for k, v in optim_state.items()} == SHAPES  # full, name-keyed

    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert sorted(result["resumed"]) == [3, 4]
        for it in (3, 4):
            assert result["resumed"][it] == pytest.approx(result["full"][it], abs=1e-6)

    plain = _runner(tmp_path / "plain", Net(), max_iters=0)
    plain.load_checkpoint(str(tmp_path / "full" / "iter_4.pth"), strict=True)  # no shape mismatch
    for key, value in ckpt["state_dict"].items():
        torch.testing.assert_close(plain.model.state_dict()[key], value, rtol=0, atol=0)
