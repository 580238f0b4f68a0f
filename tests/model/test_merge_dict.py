"""merge_dict: later dicts win, inputs untouched, non-dicts rejected, FX leaf."""

import pytest
import torch
from torch import nn

from kiln.model import merge_dict
from kiln.model import utils as model_utils


def test_later_wins_and_inputs_are_not_mutated():
    a, b = {"x": 1, "y": 2}, {"y": 3}
    out = merge_dict(a, b, {"z": 4})
    assert out == {"x": 1, "y": 3, "z": 4}
    assert a == {"x": 1, "y": 2} and out is not a


def test_non_dict_is_rejected_with_its_position():
    with pytest.raises(TypeError, match="argument 1 is a list"):
        merge_dict({}, [1])


def test_fx_tracing_keeps_merge_dict_as_a_leaf():
    # torch.fx.wrap patches the defining module's globals, so calls through the module are leaves.
    class Net(nn.Module):
        def forward(self, x):
            return model_utils.merge_dict({"a": x}, {"b": x * 2})

    graph = torch.fx.symbolic_trace(Net()).graph
    assert any(node.op == "call_function" and node.target is merge_dict for node in graph.nodes)
