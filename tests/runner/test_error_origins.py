"""An exception in a hook, a metric, a dataset (also inside a DataLoader worker) or train_step keeps
its type, names where it came from, reaches the run's log file with its traceback, and leaves no
DataLoader worker process behind."""

import multiprocessing

import pytest
import torch
from torch import nn

from kiln.evaluator import BaseMetric
from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.runner import Runner


class Net(BaseModel):
    def __init__(self, fail_at=None):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        self.fail_at, self.calls = fail_at, 0

    def forward(self, x, y, mode="tensor"):
        self.calls += 1
        if mode == "loss" and self.calls == self.fail_at:
            raise FloatingPointError("loss exploded")
        out = self.fc(x).squeeze(1)
        return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else (out, y)


class Data(torch.utils.data.Dataset):
    def __init__(self, bad_index=None):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(16, 4, generator=g), torch.randn(16, generator=g)
        self.bad_index = bad_index

    def __len__(self):
        return 16

    def __getitem__(self, i):
        if i == self.bad_index:
            raise IndexError(f"image {i} is unreadable")
        return self.x[i], self.y[i]


class Mean(BaseMetric):
    def __init__(self, fail_in=None):
        super().__init__()
        self.fail_in = fail_in

    def process(self, data_batch, data_samples):
        if self.fail_in == "process":
            raise ValueError("bad sample")
        self.results.append(float(data_samples[0][0]))

    def compute_metrics(self, results):
        if self.fail_in == "compute_metrics":
            raise ZeroDivisionError("no results")
        return dict(mean=sum(results))


def _run(tmp_path, model=None, data=None, workers=0, hooks=(), metric=None):
    loader = dict(batch_size=4, num_workers=workers, collate_fn=dict(type="default_collate"))
    runner = Runner(
        model=model or Net(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=data or Data(), **loader),
        val_dataloader=dict(dataset=Data(), **loader), val_cfg=dict(), val_evaluator=metric or Mean(),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)), train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=None, checkpoint=None), custom_hooks=list(hooks))
    return runner


def _log(tmp_path):
    return next(tmp_path.glob("*/*.log")).read_text()


def _notes(exc_info):
    return "\n".join(getattr(exc_info.value, "__notes__", []))


def test_a_hook_error_names_the_hook_and_stage_and_keeps_its_type(tmp_path):
    class Broken(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 1:
                raise KeyError("missing key")

    with pytest.raises(KeyError) as info:
        _run(tmp_path, hooks=[Broken()]).train()
    assert "kiln: raised in hook Broken.after_train_iter" in _notes(info)
    assert "kiln: raised during train() at iteration 2 (epoch 1, batch 1)" in _notes(info)
    log = _log(tmp_path)
    assert "train() failed: KeyError: 'missing key'" in log and "in after_train_iter" in log


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataset_error_names_the_index_also_from_a_worker(tmp_path, workers):
    with pytest.raises(IndexError) as info:
        _run(tmp_path, data=Data(bad_index=6), workers=workers).train()
    text = str(info.value) + _notes(info)
    assert "image 6 is unreadable" in text and "kiln: raised in dataset Data[6]" in text
    assert "Traceback" in _log(tmp_path)
    assert multiprocessing.active_children() == []  # the loader's workers were shut down


def test_a_train_step_error_names_the_iteration(tmp_path):
    with pytest.raises(FloatingPointError) as info:
        _run(tmp_path, model=Net(fail_at=3)).train()
    assert "kiln: raised in train_step at iteration 3" in _notes(info)
    assert "train() failed: FloatingPointError: loss exploded" in _log(tmp_path)


@pytest.mark.parametrize("stage,kind", [("process", ValueError), ("compute_metrics", ZeroDivisionError)])
def test_a_metric_error_names_the_metric(tmp_path, stage, kind):
    with pytest.raises(kind) as info:
        _run(tmp_path, metric=Mean(fail_in=stage)).train()
    assert f"kiln: raised in metric Mean.{stage}" in _notes(info)
    assert f"train() failed: {kind.__name__}" in _log(tmp_path)


def test_ctrl_c_reaches_the_log_file(tmp_path):
    class CtrlC(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, hooks=[CtrlC()]).train()
    assert "train() interrupted: KeyboardInterrupt" in _log(tmp_path)
