"""BaseDataPreprocessor: recursive casting, leaves left alone, device tracking."""

from collections import OrderedDict, defaultdict, namedtuple
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

from kiln.model import BaseDataPreprocessor
from kiln.model.data_preprocessor import cast_data, resolve_device
from kiln.registry import MODELS

Pair = namedtuple("Pair", ["img", "label"])


class Sample:
    """A data-sample container with a ``.to()`` that records its calls."""

    def __init__(self):
        self.calls = []

    def to(self, device, non_blocking=False):
        self.calls.append((torch.device(device), non_blocking))
        return self


class SampleWithoutNonBlocking:
    def __init__(self):
        self.device = None

    def to(self, device):
        self.device = device
        return self


def test_registered_and_default_device():
    pre = MODELS.build(dict(type="BaseDataPreprocessor", non_blocking=True))
    assert isinstance(pre, BaseDataPreprocessor)
    assert pre.device == torch.device("cpu")
    assert pre._non_blocking is True


def test_nested_batch_with_strings_none_and_numbers():
    arr = np.zeros(3)
    data = {
        "inputs": [torch.ones(2), torch.zeros(1, dtype=torch.uint8)],
        "meta": {"name": "img_001.jpg", "scale": 1.5, "flip": None, "idx": 3, "raw": b"x"},
        "pair": Pair(torch.ones(1), "cat"),
        "arr": arr,
        "tup": (torch.ones(1), None),
    }
    out = BaseDataPreprocessor()(data)
    assert out is not data and out["inputs"] is not data["inputs"]
    assert torch.equal(out["inputs"][0], torch.ones(2))
    assert out["inputs"][1].dtype == torch.uint8  # no dtype change: data travels as it is
    assert out["meta"] == {"name": "img_001.jpg", "scale": 1.5, "flip": None, "idx": 3, "raw": b"x"}
    assert isinstance(out["pair"], Pair) and out["pair"].label == "cat"
    assert out["arr"] is arr
    assert isinstance(out["tup"], tuple) and out["tup"][1] is None


def test_mapping_types_are_kept():
    od = OrderedDict(b=torch.ones(1), a=torch.zeros(1))
    dd = defaultdict(list, x=torch.ones(1))
    out = BaseDataPreprocessor().cast_data({"od": od, "dd": dd})
    assert type(out["od"]) is OrderedDict and list(out["od"]) == ["b", "a"]
    assert type(out["dd"]) is defaultdict and out["dd"].default_factory is list
    assert out["dd"] is not dd  # a copy: the caller's batch is not mutated


def test_objects_with_to_are_moved_with_non_blocking_only_towards_accelerators():
    sample = Sample()
    cast_data([sample], torch.device("cpu"), non_blocking=True)
    assert sample.calls == [(torch.device("cpu"), False)]  # device→CPU must block
    cast_data([sample], torch.device("meta"), non_blocking=True)
    assert sample.calls[-1] == (torch.device("meta"), True)
    plain = SampleWithoutNonBlocking()
    cast_data({"s": plain}, torch.device("cpu"))
    assert plain.device == torch.device("cpu")


def test_tensors_go_to_the_tracked_device():
    pre = BaseDataPreprocessor()
    pre._device = torch.device("meta")  # a device every CPU machine has
    out = pre({"x": torch.ones(2), "y": [torch.zeros(1)]})
    assert out["x"].device.type == "meta" and out["y"][0].device.type == "meta"


def test_non_blocking_is_passed_to_accelerator_copies():
    pre = BaseDataPreprocessor(non_blocking=True)
    pre._device = torch.device("meta")
    t = torch.ones(2)
    with mock.patch.object(torch.Tensor, "to", autospec=True, return_value=t) as to:
        pre.cast_data(t)
    assert to.call_args.kwargs == {"non_blocking": True}


def test_to_and_cpu_update_device_and_dtype_only_to_does_not():
    pre = BaseDataPreprocessor()
    pre.to("meta")
    assert pre.device == torch.device("meta")
    pre.to(torch.float16)
    assert pre.device == torch.device("meta")
    pre.cpu()
    assert pre.device == torch.device("cpu")


def test_cuda_honours_the_index():
    assert resolve_device("cuda", 1) == torch.device("cuda", 1)
    assert resolve_device("cuda", "cuda:2") == torch.device("cuda", 2)
    with mock.patch("torch.cuda.current_device", return_value=3):
        assert resolve_device("cuda", None) == torch.device("cuda", 3)
    pre = BaseDataPreprocessor()
    with mock.patch.object(nn.Module, "cuda", autospec=True, side_effect=lambda self, device=None: self):
        pre.cuda(1)
    assert pre.device == torch.device("cuda", 1)


def test_failed_move_keeps_the_recorded_device():
    pre = BaseDataPreprocessor()
    with mock.patch.object(nn.Module, "cuda", autospec=True, side_effect=RuntimeError("no CUDA")):
        with pytest.raises(RuntimeError):
            pre.cuda(0)
    assert pre.device == torch.device("cpu")


def test_tensor_already_on_the_device_is_returned_as_is():
    t = torch.ones(2)
    out = BaseDataPreprocessor()({"x": t})
    assert out["x"] is t
