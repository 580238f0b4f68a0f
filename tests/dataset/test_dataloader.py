"""Dataloaders from dict configs: dataset/sampler/collate/worker seeding defaults."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from kiln.dataset.collate import pseudo_collate
from kiln.dataset.dataloader import build_dataloader, worker_init_fn
from kiln.dataset.sampler import DefaultSampler
from kiln.errors import ConfigError


class RandomDraws(Dataset):
    """Each item is a draw from numpy's and torch's global RNG (as random augmentations do)."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return float(np.random.rand()), float(torch.rand(()))


def test_dict_defaults(counting_dataset_cls):
    loader = build_dataloader(dict(dataset=counting_dataset_cls(8), batch_size=2), seed=5)
    assert isinstance(loader, DataLoader) and loader.collate_fn is pseudo_collate
    assert isinstance(loader.sampler, DefaultSampler) and not loader.sampler.shuffle
    assert loader.sampler.seed == 5
    x, y = next(iter(loader))
    assert isinstance(x, list) and len(x) == 2  # pseudo_collate does not stack


def test_ready_dataloader_returned_as_is():
    loader = DataLoader(list(range(4)))
    assert build_dataloader(loader) is loader


def test_dataset_and_sampler_configs(counting_dataset_cls):
    from kiln.registry import DATASETS

    DATASETS.register_module(name="DataTestDataset", module=counting_dataset_cls, force=True)
    loader = build_dataloader(dict(dataset=dict(type="DataTestDataset", n=6), batch_size=3,
                                   sampler=dict(type="DefaultSampler", shuffle=True, seed=11),
                                   collate_fn=dict(type="default_collate")), seed=5)
    assert loader.sampler.seed == 11  # an explicit sampler seed wins over the run's
    x, _ = next(iter(loader))
    assert x.shape == (3, 4)


def test_diff_rank_seed_offsets_the_sampler_seed(counting_dataset_cls, monkeypatch):
    import kiln.dataset.dataloader as data

    monkeypatch.setattr(data, "get_rank", lambda: 3)
    loader = build_dataloader(dict(dataset=counting_dataset_cls(4), sampler=dict(type="DefaultSampler")),
                              seed=5, diff_rank_seed=True)
    assert loader.sampler.seed == 8


def test_worker_seeds_differ_per_worker_and_epoch_and_reproduce():
    def draws(epoch):
        loader = build_dataloader(dict(dataset=RandomDraws(), batch_size=1, num_workers=2,
                                       collate_fn=dict(type="default_collate")), seed=1)
        loader.sampler.set_epoch(epoch)
        return [tuple(float(v) for v in batch) for batch in loader]

    epoch0, epoch0_again, epoch1 = draws(0), draws(0), draws(1)
    assert epoch0 == epoch0_again  # reproducible: a resumed run replays the same augmentations
    assert epoch0[0] != epoch0[1]  # workers 0 and 1 are seeded differently
    assert epoch0 != epoch1  # and every epoch differently


def test_worker_init_fn_seeds_all_generators():
    class Epoch:
        epoch = 2

    worker_init_fn(0, num_workers=2, rank=0, seed=1, sampler=Epoch())
    a = (np.random.rand(), torch.rand(()).item())
    worker_init_fn(0, num_workers=2, rank=0, seed=1, sampler=Epoch())
    assert a == (np.random.rand(), torch.rand(()).item())


def test_errors(counting_dataset_cls):
    with pytest.raises(ConfigError, match="^train_dataloader: expected a torch DataLoader or a dict"):
        build_dataloader([1, 2], path="train_dataloader")
    with pytest.raises(ConfigError, match=r"collate_fn.type: 'stack' is not registered"):
        build_dataloader(dict(dataset=counting_dataset_cls(), collate_fn=dict(type="stack")))
    with pytest.raises(ConfigError, match="DataLoader rejected the arguments"):
        build_dataloader(dict(dataset=counting_dataset_cls(), batchsize=2))


# The main process dies (SIGKILL) while its worker is still starting: torch's own watchdog notes
# its parent's pid only after worker_init_fn returned, so it then watches the adoptive parent and
# the orphan ran forever, holding the job's stdout open (test_resume_crash timed out under load).
_ORPHAN_JOB = """
import os, signal, sys, time
from kiln.dataset.dataloader import build_dataloader

parent = os.getpid()

def still_starting(worker_id):  # what heavy load does: the worker is slower than its parent's death
    while os.getppid() == parent:
        time.sleep(0.01)

if sys.argv[1] == "config":
    loader = build_dataloader(dict(dataset=list(range(4)), batch_size=1, num_workers=1,
                                   worker_init_fn=still_starting), seed=0)
else:  # a DataLoader the user made, as the Runner receives it
    import torch.utils.data
    loader = build_dataloader(torch.utils.data.DataLoader(list(range(4)), num_workers=1,
                                                          worker_init_fn=still_starting))
iterator = iter(loader)
print(iterator._workers[0].pid, flush=True)
os.kill(parent, signal.SIGKILL)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc")
@pytest.mark.parametrize("made_by", ["config", "user"])
def test_a_worker_still_starting_exits_when_the_main_process_is_killed(made_by):
    job = subprocess.Popen([sys.executable, "-c", _ORPHAN_JOB, made_by], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    worker = int(job.stdout.readline())
    job.stdout.close()
    assert job.wait(timeout=120) == -signal.SIGKILL
    deadline = time.monotonic() + 60  # a liveness bound, not a timing claim: without the guard, never
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphaned = _alive(worker)
    if orphaned:
        os.kill(worker, signal.SIGKILL)  # don't leave it running
    assert not orphaned, "the DataLoader worker outlived the killed main process"
