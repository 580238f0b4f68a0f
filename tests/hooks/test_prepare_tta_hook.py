"""PrepareTTAHook: runner.test() runs the TTA model built around the trained model."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from kiln.errors import ConfigError
from kiln.hooks import PrepareTTAHook
from kiln.model import BaseTTAModel
from kiln.registry import MODELS


@MODELS.register_module(force=True)
class MeanLogitsTTA(BaseTTAModel):
    """Average the logits of the views; keep the label of the first view."""

    def merge_preds(self, data_samples_list):
        return [torch.stack([scores for scores, _ in views]).mean(0) for views in data_samples_list]


class TwoViews(Dataset):
    """Each sample as a TTA pipeline gives it: [x, -x] views (a 'flip'), label repeated per view."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return [self.x[i], -self.x[i]], [self.y[i], self.y[i]]


def _collate(samples):
    views = [torch.stack([s[0][k] for s in samples]) for k in range(2)]
    labels = [torch.stack([s[1][k] for s in samples]) for k in range(2)]
    return views, labels  # per augmentation: (inputs_k, labels_k)


class Recorder:
    def __init__(self):
        self.merged = []

    def process(self, data_batch, data_samples):
        self.merged.extend(data_samples)

    def evaluate(self, size):
        return {"n": len(self.merged)}


def test_runner_test_uses_the_tta_model(make_runner, toy_model_cls):
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    y = (x[:, 0] > 0).long()
    recorder = Recorder()

    class PerSample(toy_model_cls):  # MMEngine's convention: test_step returns one entry per sample
        def test_step(self, data):
            scores, labels = super().test_step(data)
            return list(zip(scores, labels))

    model = PerSample()
    runner = make_runner(model=model, test_dataloader=DataLoader(TwoViews(x, y), batch_size=3, collate_fn=_collate),
                         test_cfg=dict(), test_evaluator=recorder, train_dataloader=None, optim_wrapper=None,
                         train_cfg=None, val_dataloader=None, val_cfg=None, val_evaluator=None,
                         custom_hooks=[dict(type="PrepareTTAHook", tta_cfg=dict(type="MeanLogitsTTA"))])
    metrics = runner.test()
    assert isinstance(runner.model, MeanLogitsTTA) and runner.model.module is model
    assert metrics == {"n": 6}
    with torch.no_grad():
        expected = (model.fc(x) + model.fc(-x)) / 2
    assert torch.allclose(torch.stack(recorder.merged), expected)


def test_tta_cfg_is_checked_and_not_mutated():
    cfg = dict(type="MeanLogitsTTA")
    hook = PrepareTTAHook(tta_cfg=cfg)

    class _Runner:
        model = torch.nn.Module()

    runner = _Runner()
    runner.model.test_step = lambda data: data
    hook.before_test(runner)
    assert isinstance(runner.model, MeanLogitsTTA) and cfg == dict(type="MeanLogitsTTA")
    with pytest.raises(ConfigError, match="tta_cfg"):
        PrepareTTAHook(tta_cfg=dict(module=None))
