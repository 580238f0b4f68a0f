"""A 2-process (gloo, CPU) Runner run follows the same loss sequence as a 1-process run with the
same global batch: DefaultSampler shards each global batch across the ranks, DDP averages the
gradients, so the parameters — and the mean of the ranks' losses — match step for step."""

import os

import torch
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel

SAMPLES, GLOBAL_BATCH, EPOCHS = 32, 8, 2


class Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, y, mode="tensor"):
        return {"loss": F.cross_entropy(self.fc(x), y)}


class LossLog(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs["loss"]))


def _dataset():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, 4, generator=generator)
    return list(zip(x, torch.randint(0, 3, (SAMPLES,), generator=generator)))


def _train(work_dir, batch_size, launcher):
    from kiln.runner import Runner

    log = LossLog()
    torch.manual_seed(0)  # the same initial weights in every process
    runner = Runner(
        model=Linear(), work_dir=work_dir, launcher=launcher,
        env_cfg=dict(dist_cfg=dict(backend="gloo")), randomness=dict(seed=7),
        train_dataloader=dict(dataset=_dataset(), batch_size=batch_size,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.5, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        default_hooks=dict(checkpoint=None), custom_hooks=[log])
    runner.train()
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    return log.losses, {k: v.detach().clone() for k, v in model.state_dict().items()}, runner.distributed


def _worker(rank, port, out_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        losses, state, distributed = _train(os.path.join(out_dir, "ddp"), GLOBAL_BATCH // 2, "pytorch")
        torch.save(dict(losses=losses, state=state, distributed=distributed),
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()



def test_two_process_run_matches_one_process_run(tmp_path):
    spawn(_worker, lambda port: (port, str(tmp_path)))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert all(r["distributed"] for r in ranks)

    single_losses, single_state, distributed = _train(str(tmp_path / "single"), GLOBAL_BATCH, "none")
    assert not distributed
    steps = EPOCHS * SAMPLES // GLOBAL_BATCH
    assert len(single_losses) == steps and all(len(r["losses"]) == steps for r in ranks)
    mean_losses = [(a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"])]
    assert torch.allclose(torch.tensor(mean_losses), torch.tensor(single_losses), atol=1e-5)
    for key, value in single_state.items():
        assert torch.allclose(ranks[0]["state"][key], value, atol=1e-5)
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key])  # replicas stay in sync
