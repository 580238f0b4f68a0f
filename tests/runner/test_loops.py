"""Epoch- and iteration-based loops: counters, validation schedule, hook stages, train/eval modes."""

import pytest
from torch.utils.data import DataLoader

from kiln.hooks import Hook
from kiln.registry import LOOPS
from kiln.runner import loops


class Recorder(Hook):
    def __init__(self):
        self.val_at = []
        self.train_batch_idx = []
        self.modes = set()

    def before_val(self, runner):
        self.val_at.append((runner.epoch, runner.iter))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.train_batch_idx.append(batch_idx)
        self.modes.add(runner.model.training)


def test_registered():
    for loop in (loops.EpochBasedTrainLoop, loops.IterBasedTrainLoop, loops.ValLoop, loops.TestLoop):
        assert LOOPS.get(loop.__name__) is loop


@pytest.mark.parametrize("val_begin,val_interval,expected_epochs", [
    (1, 1, [1, 2, 3, 4, 5]),
    (1, 2, [2, 4, 5]),        # the last epoch always validates
    (3, 1, [3, 4, 5]),
    (2, 3, [3, 5]),
])
def test_epoch_loop_validation_schedule(make_runner, val_begin, val_interval, expected_epochs):
    rec = Recorder()
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=5, val_begin=val_begin,
                                        val_interval=val_interval), custom_hooks=[rec])
    runner.train()
    # before_val fires after the epoch counter advanced: epoch == number of finished epochs
    assert [epoch for epoch, _ in rec.val_at] == expected_epochs
    assert runner.epoch == 5 and runner.iter == 5 * 6 and runner.max_iters == 30
    assert rec.train_batch_idx[:7] == [0, 1, 2, 3, 4, 5, 0]  # batch index within the epoch
    assert rec.modes == {True}  # validation switched to eval, training back to train


@pytest.mark.parametrize("val_begin,val_interval,expected_iters", [
    (1, 4, [4, 8, 10]),
    (5, 2, [6, 8, 10]),
])
def test_iter_loop_validation_schedule(make_runner, val_begin, val_interval, expected_iters):
    rec = Recorder()
    runner = make_runner(train_cfg=dict(by_epoch=False, max_iters=10, val_begin=val_begin,
                                        val_interval=val_interval), custom_hooks=[rec])
    runner.train()
    assert [it for _, it in rec.val_at] == expected_iters
    assert runner.iter == 10 and isinstance(runner.train_loop, loops.IterBasedTrainLoop)
    assert rec.train_batch_idx == list(range(10))  # MMEngine: batch_idx is the global iteration
    assert rec.modes == {True}
    # 6 batches per pass: iteration 6..9 ran in the second pass over the data
    assert runner.train_loop.state.epoch == 1 and runner.train_loop.state.batch_idx_in_epoch == 4


def test_iter_loop_reshuffles_each_pass(make_runner, counting_dataset_cls):
    dataset = counting_dataset_cls(8)
    runner = make_runner(train_dataloader=dict(dataset=dataset, batch_size=4,
                                               sampler=dict(type="DefaultSampler", shuffle=True),
                                               collate_fn=dict(type="default_collate")),
                         train_cfg=dict(by_epoch=False, max_iters=6, val_interval=100))
    runner.train()
    passes = [dataset.loaded[i:i + 8] for i in (0, 8, 16)]
    assert all(sorted(p) == list(range(8)) for p in passes[:2])
    assert passes[0] != passes[1]


def test_dynamic_intervals(make_runner):
    rec = Recorder()
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=6, val_interval=3,
                                        dynamic_intervals=[(4, 1)]), custom_hooks=[rec])
    runner.train()
    assert [e for e, _ in rec.val_at] == [3, 4, 5, 6]


def test_explicit_loop_type(make_runner):
    runner = make_runner(train_cfg=dict(type="EpochBasedTrainLoop", max_epochs=1))
    runner.train()
    assert runner.epoch == 1


def test_val_and_test_return_metrics(make_runner, toy_metric_cls, counting_dataset_cls):
    runner = make_runner(test_dataloader=DataLoader(counting_dataset_cls(8), batch_size=4),
                         test_cfg=dict(), test_evaluator=[dict(type=toy_metric_cls)])
    metrics = runner.val()
    assert set(metrics) == {"toy/accuracy"} and 0 <= metrics["toy/accuracy"] <= 100
    assert set(runner.test()) == {"toy/accuracy"}


def test_val_fp16_runs_under_autocast(make_runner, toy_model_cls):
    import torch

    seen = []

    class Probe(toy_model_cls):
        def forward(self, x, y, mode="tensor"):
            seen.append(torch.is_autocast_enabled(x.device.type))
            return super().forward(x, y, mode)

    runner = make_runner(model=Probe(), val_cfg=dict(fp16=True))
    runner.val()
    assert seen and all(seen)


def test_stop_training_ends_the_loop(make_runner):
    class Stop(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 2:
                runner.train_loop.stop_training = True

    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=5), custom_hooks=[Stop()])
    runner.train()
    assert runner.iter == 3 and runner.epoch == 1


def test_samplers_without_set_epoch_are_left_alone(make_runner, counting_dataset_cls):
    """A plain torch sampler has no epochs: the loop iterates it as is, every epoch, untouched."""
    import torch

    class PlainSampler(torch.utils.data.Sampler):
        def __init__(self, n):
            self.n, self.iterations = n, 0

        def __iter__(self):
            self.iterations += 1
            return iter(range(self.n))

        def __len__(self):
            return self.n

    dataset = counting_dataset_cls()
    sampler = PlainSampler(len(dataset))
    runner = make_runner(train_dataloader=DataLoader(dataset, batch_size=4, sampler=sampler),
                         train_cfg=dict(by_epoch=True, max_epochs=3), val_cfg=None,
                         val_dataloader=None, val_evaluator=None)
    runner.train()
    assert sampler.iterations == 3 and runner.iter == 3 * len(runner.train_dataloader)
    assert set(vars(sampler)) == {"n", "iterations"}  # no epoch/offset attributes were set on it
