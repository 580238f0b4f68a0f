"""Module init functions: what they write, their distributions on large layers, and bad input."""

import math
import warnings

import pytest
import torch
import torch.nn as nn

from kiln.model import (
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

FAN_IN, FAN_OUT = 1000, 600  # Linear(1000, 600): 600k weights


def big_linear() -> nn.Linear:
    return nn.Linear(FAN_IN, FAN_OUT)


def close(value: float, expected: float, rel: float = 0.03) -> bool:
    return abs(value - expected) <= rel * abs(expected)


def test_constant_init_is_exact():
    m = big_linear()
    assert constant_init(m, 0.5, bias=-2) is None
    assert torch.all(m.weight == 0.5) and torch.all(m.bias == -2)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_xavier_std(distribution):
    m = big_linear()
    xavier_init(m, gain=2, bias=0.1, distribution=distribution)
    expected = 2 * math.sqrt(2.0 / (FAN_IN + FAN_OUT))
    assert close(m.weight.std().item(), expected)
    assert torch.all(m.bias == 0.1)
    if distribution == "uniform":
        assert m.weight.abs().max().item() <= expected * math.sqrt(3) + 1e-6


def test_normal_init_mean_and_std():
    m = big_linear()
    normal_init(m, mean=1.0, std=0.02, bias=3)
    assert abs(m.weight.mean().item() - 1.0) < 1e-3
    assert close(m.weight.std().item(), 0.02)
    assert torch.all(m.bias == 3)


def test_uniform_init_bounds_and_std():
    m = big_linear()
    uniform_init(m, a=-0.5, b=1.5, bias=0)
    assert m.weight.min().item() >= -0.5 and m.weight.max().item() < 1.5
    assert close(m.weight.std().item(), 2 / math.sqrt(12))
    assert abs(m.weight.mean().item() - 0.5) < 5e-3


@pytest.mark.parametrize("mode,fan", [("fan_out", FAN_OUT), ("fan_in", FAN_IN)])
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_kaiming_std(mode, fan, distribution):
    m = big_linear()
    kaiming_init(m, mode=mode, distribution=distribution, bias=0.2)
    assert close(m.weight.std().item(), math.sqrt(2.0) / math.sqrt(fan))
    assert torch.all(m.bias == 0.2)


def test_kaiming_on_conv_uses_receptive_field():
    m = nn.Conv2d(64, 128, 3)
    kaiming_init(m)  # fan_out = 128 * 9
    assert close(m.weight.std().item(), math.sqrt(2.0 / (128 * 9)))


def test_caffe2_xavier_is_kaiming_uniform_fan_in_gain_1():
    m = big_linear()
    caffe2_xavier_init(m, bias=0)
    bound = math.sqrt(3.0 / FAN_IN)  # leaky_relu with a=1 has gain 1
    assert m.weight.abs().max().item() <= bound + 1e-7
    assert close(m.weight.std().item(), 1 / math.sqrt(FAN_IN))
    assert torch.all(m.bias == 0)


def test_trunc_normal_bounds_are_absolute():
    t = torch.empty(400_000)
    out = trunc_normal_(t, mean=0.0, std=1.0, a=-0.5, b=0.8)
    assert out is t
    assert t.min().item() >= -0.5 and t.max().item() <= 0.8
    assert t.min().item() < -0.49 and t.max().item() > 0.79  # fills up to the cut-offs


def test_trunc_normal_std_matches_truncated_normal():
    t = trunc_normal_(torch.empty(500_000), mean=0.0, std=0.02, a=-2.0, b=2.0)
    assert close(t.std().item(), 0.02)  # cut-offs at 100 std: effectively untruncated
    t = trunc_normal_(torch.empty(500_000), mean=0.0, std=1.0, a=-1.0, b=1.0)
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    mass = math.erf(1 / math.sqrt(2))
    expected = math.sqrt(1 - 2 * phi / mass)  # std of N(0,1) truncated to [-1, 1]
    assert close(t.std().item(), expected, rel=0.01)


def test_trunc_normal_init_and_warning():
    m = big_linear()
    trunc_normal_init(m, mean=0, std=0.02, a=-0.03, b=0.03, bias=1)
    assert m.weight.abs().max().item() <= 0.03
    assert torch.all(m.bias == 1)
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        trunc_normal_(torch.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)


def test_bias_init_with_prob():
    assert bias_init_with_prob(0.01) == pytest.approx(-4.59511985013459)
    assert bias_init_with_prob(0.5) == 0.0
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="prior_prob"):
            bias_init_with_prob(bad)


class OnlyWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 4))


class NoneBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 4))
        self.bias = None


@pytest.mark.parametrize("fn", [
    lambda m: constant_init(m, 1), xavier_init, normal_init, trunc_normal_init, uniform_init,
    kaiming_init, caffe2_xavier_init,
])
@pytest.mark.parametrize("make", [OnlyWeight, NoneBias, nn.ReLU, lambda: nn.Linear(4, 4, bias=False)])
def test_missing_or_none_weight_and_bias_are_skipped(fn, make):
    module = make()
    assert fn(module) is None
    weight = getattr(module, "weight", None)
    if weight is not None:  # the weight is still written when the bias is missing
        assert not torch.all(weight == 0)


@pytest.mark.parametrize("fn", [xavier_init, kaiming_init])
def test_bad_distribution(fn):
    with pytest.raises(ValueError, match="distribution must be 'uniform' or 'normal', but got 'gauss'"):
        fn(nn.Linear(2, 2), distribution="gauss")


def test_functions_do_not_recurse():
    seq = nn.Sequential(nn.Linear(2, 2))
    before = seq[0].weight.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant_init(seq, 5)
    assert torch.equal(seq[0].weight, before)
