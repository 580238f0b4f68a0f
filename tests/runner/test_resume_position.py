"""Resume primitives: a loop whose state says "epoch e, batch b" continues at exactly that batch,
and the skipped batches' data is never loaded (index-level skipping), also with workers."""

import os

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from kiln.hooks import Hook


class FileLoggedDataset(Dataset):
    """Appends every loaded index to a file, so loads done in worker processes are seen too."""

    def __init__(self, path, n=24):
        self.path = str(path)
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = (self.x[:, 0] > 0).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        with open(self.path, "a") as f:
            f.write(f"{index}\n")
        return self.x[index], self.y[index]

    def loaded(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [int(line) for line in f]


class BatchRecorder(Hook):
    def __init__(self):
        self.batches = []
        self.positions = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.batches.append(data_batch[0].clone())
        self.positions.append((runner.epoch, runner.iter, batch_idx))


def _run(make_runner, tmp_path, name, train_cfg, sampler, num_workers=0, state=None):
    dataset = FileLoggedDataset(tmp_path / f"{name}.log")
    recorder = BatchRecorder()
    runner = make_runner(
        work_dir=str(tmp_path / name),
        train_dataloader=dict(dataset=dataset, batch_size=4, num_workers=num_workers, sampler=sampler,
                              collate_fn=dict(type="default_collate")),
        train_cfg=train_cfg, val_dataloader=None, val_cfg=None, val_evaluator=None,
        custom_hooks=[recorder])
    if state is not None:
        runner.train_loop.state.load_state_dict(state)
    runner.train()
    return recorder, dataset.loaded(), runner


@pytest.mark.parametrize("num_workers", [0, 2])
def test_epoch_loop_resumes_mid_epoch_without_loading_skipped_data(make_runner, tmp_path, num_workers):
    cfg = dict(by_epoch=True, max_epochs=2)
    sampler = dict(type="DefaultSampler", shuffle=True)
    full, full_loaded, _ = _run(make_runner, tmp_path, "full", cfg, sampler, num_workers)
    assert len(full.batches) == 12 and len(full_loaded) == 48

    state = dict(epoch=1, iter=9, batch_idx_in_epoch=3)  # 6 batches/epoch: 9 done
    resumed, resumed_loaded, runner = _run(make_runner, tmp_path, "resumed", cfg, sampler, num_workers, state)
    assert len(resumed.batches) == 3
    for a, b in zip(full.batches[9:], resumed.batches):
        assert torch.equal(a, b)  # same order: shuffle depends only on (seed, epoch)
    assert resumed.positions == full.positions[9:]
    # only the remaining 12 samples are loaded; map the recorded rows back to dataset indices, since
    # with workers the order in which samples are loaded (and logged) is not fixed
    rows = FileLoggedDataset(tmp_path / "probe.log").x
    remaining = sorted(int((rows == row).all(1).nonzero()) for batch in full.batches[9:] for row in batch)
    assert sorted(resumed_loaded) == remaining
    assert runner.iter == 12 and runner.epoch == 2


def test_iter_loop_resumes_at_the_right_batch(make_runner, tmp_path):
    cfg = dict(by_epoch=False, max_iters=15, val_interval=100)
    sampler = dict(type="InfiniteSampler", shuffle=True)
    full, full_loaded, _ = _run(make_runner, tmp_path, "full", cfg, sampler)
    state = dict(epoch=0, iter=10, batch_idx_in_epoch=10)
    resumed, resumed_loaded, _ = _run(make_runner, tmp_path, "resumed", cfg, sampler, state=state)
    assert len(resumed.batches) == 5
    assert all(torch.equal(a, b) for a, b in zip(full.batches[10:], resumed.batches))
    assert resumed_loaded == full_loaded[40:]  # MMEngine would reload the first 10 batches


def test_iter_loop_with_default_sampler_resumes_in_the_right_pass(make_runner, tmp_path):
    cfg = dict(by_epoch=False, max_iters=15, val_interval=100)
    sampler = dict(type="DefaultSampler", shuffle=True)
    full, full_loaded, _ = _run(make_runner, tmp_path, "full", cfg, sampler)
    state = dict(epoch=1, iter=8, batch_idx_in_epoch=2)  # second pass over the 6-batch data
    resumed, resumed_loaded, _ = _run(make_runner, tmp_path, "resumed", cfg, sampler, state=state)
    assert all(torch.equal(a, b) for a, b in zip(full.batches[8:], resumed.batches))
    assert resumed_loaded == full_loaded[32:]


def test_plain_dataloader_skips_at_the_index_level(make_runner, tmp_path):
    dataset = FileLoggedDataset(tmp_path / "plain.log")
    recorder = BatchRecorder()
    runner = make_runner(train_dataloader=DataLoader(dataset, batch_size=4), custom_hooks=[recorder],
                         train_cfg=dict(by_epoch=True, max_epochs=1), val_dataloader=None, val_cfg=None,
                         val_evaluator=None)
    runner.train_loop.state.load_state_dict(dict(epoch=0, iter=4, batch_idx_in_epoch=4))
    runner.train()
    assert dataset.loaded() == list(range(16, 24))
    assert [p[2] for p in recorder.positions] == [4, 5]


def test_creating_the_resumed_iterator_draws_no_random_numbers(make_runner, tmp_path):
    runner = make_runner(train_dataloader=dict(dataset=FileLoggedDataset(tmp_path / "r.log"), batch_size=4,
                                               num_workers=1, sampler=dict(type="DefaultSampler")))
    loop = runner.train_loop
    loop.state.load_state_dict(dict(epoch=0, iter=2, batch_idx_in_epoch=2))
    before = torch.get_rng_state()
    iterator = loop._start_pass()
    assert torch.equal(before, torch.get_rng_state())
    del iterator


def test_checkpoint_position_counts_consumed_batches(make_runner, tmp_path):
    from kiln.runner.checkpointing import build_checkpoint

    seen = []

    class Probe(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            state = build_checkpoint(runner)["loop_state"]
            seen.append((state["batch_idx_in_epoch"], state["global_batch"]))

    runner = make_runner(train_dataloader=dict(dataset=FileLoggedDataset(tmp_path / "p.log"), batch_size=4,
                                               sampler=dict(type="DefaultSampler", shuffle=True),
                                               collate_fn=dict(type="default_collate")),
                         custom_hooks=[Probe()], train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()
    assert seen == [(i, 4) for i in range(1, 7)]  # batches consumed, counting the iteration just done


@pytest.mark.parametrize("saved_ws,saved_batch,world_size,batch,expected", [
    (2, 8, 1, 16, 10),  # same global batch (16): the same batch index
    (2, 8, 1, 8, 20),   # half the global batch: twice the batches
    (1, 8, 2, 8, 5),    # twice the global batch: half
])
def test_resume_position_counts_samples_across_world_sizes(monkeypatch, saved_ws, saved_batch, world_size,
                                                           batch, expected):
    from types import SimpleNamespace

    from kiln.runner import checkpointing

    monkeypatch.setattr(checkpointing, "get_world_size", lambda: world_size)
    checkpoint = {"meta": {"world_size": saved_ws},
                  "loop_state": {"epoch": 1, "iter": 15, "batch_idx_in_epoch": 10,
                                 "global_batch": saved_batch * saved_ws}}
    state = checkpointing.resume_position(SimpleNamespace(batch_size=batch), checkpoint)
    assert state == {"epoch": 1, "iter": 15, "batch_idx_in_epoch": expected}
