"""BaseTTAModel: one batch per augmentation, the wrapped model's test_step on each, merged per sample."""

import pytest
import torch
from torch import nn

from kiln.model import BaseModel, BaseTTAModel
from kiln.registry import MODELS


class Doubler(BaseModel):
    """test_step returns one prediction per sample: 2 * input (so merging is checkable)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs

    def test_step(self, data):
        inputs = data["inputs"] if isinstance(data, dict) else data[0]
        self.calls.append(inputs.clone())
        return list(2 * inputs)


class MeanTTA(BaseTTAModel):
    def merge_preds(self, data_samples_list):
        return [torch.stack(preds).mean(0) for preds in data_samples_list]


def test_dict_batch_runs_each_augmentation_and_merges_per_sample():
    model = MeanTTA(module=Doubler())
    plain = torch.tensor([[1.0], [2.0], [3.0]])
    flipped = torch.tensor([[3.0], [4.0], [5.0]])
    merged = model.test_step(dict(inputs=[plain, flipped], data_samples=[None, None]))
    assert [c.tolist() for c in model.module.calls] == [plain.tolist(), flipped.tolist()]
    assert torch.equal(torch.stack(merged), 2 * (plain + flipped) / 2)


def test_tuple_batch_and_merge_receives_one_tuple_per_sample():
    seen = []

    class Spy(BaseTTAModel):
        def merge_preds(self, data_samples_list):
            seen.extend(data_samples_list)
            return [p[0] for p in data_samples_list]

    views = [torch.tensor([[1.0], [2.0]]), torch.tensor([[10.0], [20.0]]), torch.tensor([[5.0], [6.0]])]
    out = Spy(module=Doubler()).test_step((views, ["samples_aug0", "samples_aug1", "samples_aug2"]))
    assert len(seen) == 2 and all(len(t) == 3 for t in seen)  # 2 samples, 3 augmentations each
    assert [float(v) for v in seen[0]] == [2.0, 20.0, 10.0]
    assert [float(v) for v in out] == [2.0, 4.0]


def test_module_from_config_and_errors():
    @MODELS.register_module(force=True)
    class DoublerH2(Doubler):
        pass

    model = MeanTTA(module=dict(type="DoublerH2"))
    assert isinstance(model.module, DoublerH2)
    with pytest.raises(TypeError, match="test_step"):
        MeanTTA(module=nn.Linear(1, 1))
    with pytest.raises(TypeError, match="abstract"):
        BaseTTAModel(module=Doubler())
    with pytest.raises(NotImplementedError, match="test_step"):
        model(torch.zeros(1))
    with pytest.raises(ValueError, match="augmentations"):
        model.test_step(dict(inputs=[torch.zeros(1, 1)] * 2, data_samples=[None]))
    with pytest.raises(TypeError, match="expected a dict, tuple or list"):
        model.test_step(torch.zeros(2))
