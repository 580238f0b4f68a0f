"""A small training script run by ``torchrun`` in tests/distributed/test_torchrun.py.

``python -m torch.distributed.run --standalone --nproc_per_node 2 _torchrun_train.py OUT_DIR WRAPPER...``
trains with ``Runner(launcher='pytorch')`` for each wrapper, validates on a set whose size does not
divide by the world size (the sampler pads it), and rank 0 writes the losses and metrics as JSON.
Called in-process with ``world_size=1`` it gives the reference.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from kiln.evaluator import BaseMetric
from kiln.hooks import Hook
from kiln.model import BaseModel

GLOBAL_BATCH = 8


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 3)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.tanh(self.fc1(x)))
        if mode == "loss":
            return {"loss": F.cross_entropy(out, y)}
        return (out, y) if mode == "predict" else out


class Stats(BaseMetric):
    """Sample count, mean logit and accuracy: any padded duplicate would change the first two."""

    def process(self, data_batch, data_samples):
        out, y = data_samples
        for row, label in zip(out, y):
            self.results.append({"logit": float(row.sum()), "correct": int(row.argmax() == label)})

    def compute_metrics(self, results):
        n = len(results)
        return {"n": n, "mean_logit": sum(r["logit"] for r in results) / n,
                "acc": sum(r["correct"] for r in results) / n}


class GlobalLoss(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        import torch.distributed as dist

        loss = outputs["loss"].detach().clone()
        if dist.is_initialized():
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
        self.losses.append(loss.item())


def run(out_dir, wrapper, world_size):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    train = list(zip(torch.randn(48, 4, generator=generator), torch.randint(0, 3, (48,), generator=generator)))
    val = list(zip(torch.randn(13, 4, generator=generator), torch.randint(0, 3, (13,), generator=generator)))
    loader = dict(sampler=dict(type="DefaultSampler", shuffle=False), collate_fn=dict(type="default_collate"))
    wrapper_cfg = dict(type=wrapper) if world_size > 1 and wrapper != "DDP" else None
    torch.manual_seed(0)
    log, keep = GlobalLoss(), KeepMetrics()
    runner = Runner(
        model=Net(), work_dir=os.path.join(out_dir, wrapper), randomness=dict(seed=0),
        launcher="pytorch" if world_size > 1 else "none", env_cfg=dict(dist_cfg=dict(backend="gloo")),
        cfg=dict(model_wrapper_cfg=wrapper_cfg) if wrapper_cfg else None, custom_hooks=[log, keep],
        train_dataloader=dict(dataset=train, batch_size=GLOBAL_BATCH // world_size, **loader),
        val_dataloader=dict(dataset=val, batch_size=3, **loader), val_evaluator=dict(type=Stats), val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=6),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=6, by_epoch=False)))
    runner.train()
    return {"losses": log.losses, "metrics": keep.metrics, "world_size": runner.world_size,
            "checkpoint": sorted(p for p in os.listdir(runner.work_dir)
                                       if p.startswith("iter_") and not p.endswith(".sha256"))}


class KeepMetrics(Hook):
    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


def main(out_dir, wrappers):
    import torch.distributed as dist

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    results = {}
    for wrapper in wrappers:
        results[wrapper] = run(out_dir, wrapper, world_size)
    if int(os.environ.get("RANK", "0")) == 0:
        with open(os.path.join(out_dir, f"results_{world_size}.json"), "w") as f:
            json.dump(results, f)
    if dist.is_initialized():
        dist.destroy_process_group()
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2:])
