"""get_model_complexity_info: torch's FlopCounterMode counts, MMEngine's keys, table and arch."""

import pytest
import torch
from torch import nn

from kiln.analysis import get_model_complexity_info


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def test_counts_match_the_formulas():
    info = get_model_complexity_info(_net(), input_shape=(3, 8, 8))
    conv_macs = 4 * 6 * 6 * (3 * 3 * 3)  # outputs x (kernel volume x in channels)
    assert info["flops"] == conv_macs + 144 * 2
    assert info["params"] == (4 * 27 + 4) + (144 * 2 + 2)
    assert info["activations"] == 4 * 6 * 6 + 2  # outputs of the conv and the linear layer
    assert (info["flops_str"], info["params_str"], info["activations_str"]) == ("4.176K", "0.402K", "0.146K")


def test_table_and_arch_as_mmengine_prints_them():
    # the same model on MMEngine 0.10.7 prints this table (checked by hand)
    info = get_model_complexity_info(_net(), input_shape=(3, 8, 8))
    assert info["out_table"].splitlines()[1:6] == [
        "+------------+----------------------+---------+--------------+",
        "| module     | #parameters or shape | #flops  | #activations |",
        "+------------+----------------------+---------+--------------+",
        "| model      | 0.402K               | 4.176K  | 0.146K       |",
        "|  0         |  0.112K              |  3.888K |  0.144K      |",
    ]
    assert "|   0.weight |   (4, 3, 3, 3)       |" in info["out_table"]
    assert "  #params: 0.4K, #flops: 4.18K, #acts: 0.15K\n  (0): Conv2d(" in info["out_arch"]
    assert "(1): ReLU()" in info["out_arch"]


def test_the_model_is_left_as_it_was():
    net = _net().train()
    before = repr(net)
    get_model_complexity_info(net, input_shape=(3, 8, 8))
    assert net.training and repr(net) == before and not net._forward_hooks


def test_inputs_instead_of_shape_and_functional_ops_are_counted():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x, y):
            return torch.bmm(self.proj(x), y.transpose(1, 2))  # a functional matmul, outside any layer

    x, y = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    info = get_model_complexity_info(Attn(), inputs=(x, y), show_table=False, show_arch=False)
    assert info["flops"] == 2 * 5 * 8 * 8 + 2 * 5 * 5 * 8
    assert info["out_table"] == info["out_arch"] == ""


def test_exactly_one_of_shape_or_inputs():
    with pytest.raises(ValueError, match="exactly one of input_shape"):
        get_model_complexity_info(_net())
