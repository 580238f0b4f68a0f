"""Shared fixtures: the RNG reset, and the toy model, metric, datasets and runner factory that the
runner, dataset, hooks and visualization tests share."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from kiln.evaluator import BaseMetric
from kiln.model import BaseModel


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same RNG state, so statistical checks are reproducible."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield



class ToyModel(BaseModel):
    """Linear classifier: forward(x, y, mode) as in the seeds."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x, y, mode="tensor"):
        out = self.fc(x)
        if mode == "loss":
            return {"loss": F.cross_entropy(out, y)}
        if mode == "predict":
            return out, y
        return out


class ToyAccuracy(BaseMetric):
    default_prefix = "toy"

    def process(self, data_batch, data_samples) -> None:
        score, gt = data_samples
        self.results.append({"n": len(gt), "correct": int((score.argmax(1) == gt).sum())})

    def compute_metrics(self, results):
        return dict(accuracy=100.0 * sum(r["correct"] for r in results) / sum(r["n"] for r in results))


class CountingDataset(Dataset):
    """Records every index it is asked for (so tests can prove skipped batches are not loaded)."""

    def __init__(self, n: int = 24) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = (self.x[:, 0] > 0).long()
        self.loaded: list[int] = []

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int):
        self.loaded.append(int(index))
        return self.x[index], self.y[index]


@pytest.fixture
def toy_model_cls():
    return ToyModel


@pytest.fixture
def toy_metric_cls():
    return ToyAccuracy


@pytest.fixture
def counting_dataset_cls():
    return CountingDataset


@pytest.fixture
def make_runner(tmp_path):
    """``make_runner(**overrides)``: a small epoch-based runner with validation; quiet hooks."""
    from kiln.runner import Runner

    def factory(**overrides):
        dataset = CountingDataset()
        args = dict(
            model=ToyModel(),
            work_dir=str(tmp_path / "work"),
            train_dataloader=DataLoader(dataset, batch_size=4),
            optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
            train_cfg=dict(by_epoch=True, max_epochs=2),
            val_dataloader=DataLoader(CountingDataset(8), batch_size=4),
            val_cfg=dict(),
            val_evaluator=dict(type=ToyAccuracy),
            default_hooks=dict(checkpoint=None),
            randomness=dict(seed=0),
        )
        args.update(overrides)
        return Runner(**args)

    return factory
