import torch

from kiln.dataset.collate import default_collate, pseudo_collate
from kiln.registry import FUNCTIONS


def test_pseudo_collate_keeps_tensors_unstacked():
    batch = [(torch.zeros(2), 0), (torch.ones(3), 1)]  # different sizes: cannot be stacked
    imgs, labels = pseudo_collate(batch)
    assert isinstance(imgs, list) and [t.shape[0] for t in imgs] == [2, 3]
    assert labels == [0, 1]


def test_pseudo_collate_dicts():
    out = pseudo_collate([dict(inputs=torch.zeros(1), meta=dict(id=1)), dict(inputs=torch.ones(1), meta=dict(id=2))])
    assert set(out) == {"inputs", "meta"} and out["meta"] == {"id": [1, 2]}


def test_default_collate_stacks():
    imgs, labels = default_collate([(torch.zeros(2), 0), (torch.ones(2), 1)])
    assert imgs.shape == (2, 2) and labels.tolist() == [0, 1]


def test_registered():
    assert FUNCTIONS.get("pseudo_collate") is pseudo_collate
    assert FUNCTIONS.get("default_collate") is default_collate
