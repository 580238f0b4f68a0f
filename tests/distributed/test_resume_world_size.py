"""Resume on another world size with the same global batch: the run continues where it stopped.

Saved by 2 ranks after 3 iterations (global batch 8 = 2 x 4) and resumed by 1 process (batch 8),
or the other way round, the resumed losses equal an uninterrupted 1-process run's — so the data
position was re-split (sample 24 onwards), not restarted at sample 0. Epoch- and iteration-based.
"""

import json
import os

import pytest
import torch
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel

SAMPLES, GLOBAL_BATCH, SAVED_AT = 40, 8, 3  # 5 iterations per epoch: iteration 3 is mid-epoch


class Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, y, mode="tensor"):
        return {"loss": F.cross_entropy(self.fc(x), y)}


class LossLog(Hook):
    def __init__(self, path):
        self.path = path

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        with open(self.path, "a") as f:
            f.write(json.dumps([runner.iter, float(outputs["loss"])]) + "\n")


def _dataset():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, 4, generator=generator)
    return list(zip(x, torch.randint(0, 3, (SAMPLES,), generator=generator)))


def _train(work_dir, by_epoch, world_size, losses, resume_from=None):
    from kiln.runner import Runner

    torch.manual_seed(0)  # the same initial weights in every process
    train_cfg = dict(by_epoch=True, max_epochs=2) if by_epoch else dict(by_epoch=False, max_iters=8)
    Runner(
        model=Linear(), work_dir=work_dir, launcher="pytorch" if world_size > 1 else "none",
        env_cfg=dict(dist_cfg=dict(backend="gloo")), randomness=dict(seed=7),
        train_dataloader=dict(dataset=_dataset(), batch_size=GLOBAL_BATCH // world_size,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.5, momentum=0.9)), train_cfg=train_cfg,
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", by_epoch=False,
                                                        interval=SAVED_AT)),
        custom_hooks=[LossLog(losses)], load_from=resume_from, resume=resume_from is not None).train()


def _worker(rank, port, out_dir, by_epoch):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:  # 2 -> 1: train from scratch on 2 ranks;  1 -> 2: resume the 1-process run's checkpoint
        _train(os.path.join(out_dir, "two"), by_epoch, 2, os.path.join(out_dir, f"two{rank}.txt"))
        _train(os.path.join(out_dir, "one_to_two"), by_epoch, 2, os.path.join(out_dir, f"resumed{rank}.txt"),
               resume_from=os.path.join(out_dir, "one", f"iter_{SAVED_AT}.pth"))
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _losses(path):
    with open(path) as f:
        return dict(json.loads(line) for line in f)


@pytest.mark.parametrize("by_epoch", [True, False])
def test_resume_on_another_world_size_continues_the_loss_sequence(tmp_path, by_epoch):
    _train(str(tmp_path / "one"), by_epoch, 1, str(tmp_path / "one.txt"))  # the uninterrupted run
    reference = _losses(tmp_path / "one.txt")
    assert len(reference) == (10 if by_epoch else 8)
    spawn(_worker, lambda port: (port, str(tmp_path), by_epoch))
    _train(str(tmp_path / "two_to_one"), by_epoch, 1, str(tmp_path / "two_to_one.txt"),
           resume_from=str(tmp_path / "two" / f"iter_{SAVED_AT}.pth"))

    later = sorted(i for i in reference if i >= SAVED_AT)
    two_to_one = _losses(tmp_path / "two_to_one.txt")
    assert sorted(two_to_one) == later
    ranks = [_losses(tmp_path / f"resumed{r}.txt") for r in range(2)]
    assert sorted(ranks[0]) == later
    for i in later:
        assert two_to_one[i] == pytest.approx(reference[i], abs=1e-5), f"2 -> 1, iteration {i}"
        mean = (ranks[0][i] + ranks[1][i]) / 2  # DDP ranks each see half of the global batch
        assert mean == pytest.approx(reference[i], abs=1e-5), f"1 -> 2, iteration {i}"
