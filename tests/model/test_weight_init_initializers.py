"""Registered initializer classes: defaults, exact info texts, layer matching, registry use."""

import math

import pytest
import torch
import torch.nn as nn

from kiln.model import (
    BaseInit,
    Caffe2XavierInit,
    ConstantInit,
    KaimingInit,
    NormalInit,
    PretrainedInit,
    TruncNormalInit,
    UniformInit,
    XavierInit,
    initialize,
)
from kiln.registry import WEIGHT_INITIALIZERS


@pytest.mark.parametrize("name,cls", [
    ("Constant", ConstantInit), ("Xavier", XavierInit), ("Normal", NormalInit),
    ("TruncNormal", TruncNormalInit), ("Uniform", UniformInit), ("Kaiming", KaimingInit),
    ("Caffe2Xavier", Caffe2XavierInit), ("Pretrained", PretrainedInit),
])
def test_registered_names(name, cls):
    assert WEIGHT_INITIALIZERS.get(name) is cls


@pytest.mark.parametrize("init,text", [
    (ConstantInit(val=1), "ConstantInit: val=1, bias=0"),
    (XavierInit(), "XavierInit: gain=1, distribution=normal, bias=0"),
    (NormalInit(std=0.01), "NormalInit: mean=0, std=0.01, bias=0"),
    (TruncNormalInit(), "TruncNormalInit: a=-2, b=2, mean=0, std=1, bias=0"),
    (UniformInit(), "UniformInit: a=0, b=1, bias=0"),
    (KaimingInit(), "KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0"),
    (Caffe2XavierInit(), "Caffe2XavierInit: a=1, mode=fan_in, nonlinearity=leaky_relu, "
                         "distribution =uniform, bias=0"),
    (PretrainedInit("a.pth"), "PretrainedInit: load from a.pth"),
    (NormalInit(bias_prob=0.01), "NormalInit: mean=0, std=1, bias=-4.59511985013459"),
])
def test_info_texts(init, text):
    assert init._get_init_info() == text


def test_base_init_argument_checks():
    with pytest.raises(TypeError, match="bias must be a number, but got a str"):
        ConstantInit(val=1, bias="0")
    with pytest.raises(TypeError, match="bias_prob type must be float, but got a int"):
        ConstantInit(val=1, bias_prob=1)
    with pytest.raises(TypeError, match="layer must be a str or a list of str"):
        ConstantInit(val=1, layer=3)
    with pytest.raises(TypeError):
        Caffe2XavierInit(a=1)  # its Kaiming arguments are fixed
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        KaimingInit(mode="fan")
    with pytest.raises(ValueError):
        KaimingInit(nonlinearity="swishy")
    with pytest.raises(ValueError, match="a < b"):
        TruncNormalInit(a=1, b=1)
    with pytest.raises(ValueError, match="a <= b"):
        UniformInit(a=2, b=1)
    with pytest.raises(ValueError, match="std must be >= 0"):
        NormalInit(std=-1)
    assert ConstantInit(val=1, layer="Conv2d").layer == ["Conv2d"]
    assert ConstantInit(val=1).layer == []


class MyConv(nn.Conv2d):
    pass


class MyConv2(MyConv):
    pass


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = nn.Conv2d(1, 1, 1)
        self.sub = MyConv(1, 1, 1)
        self.subsub = MyConv2(1, 1, 1)
        self.linear = nn.Linear(1, 1)


def test_layer_matches_class_or_direct_base_only():
    net = Net()
    ConstantInit(val=3, layer="Conv2d")(net)
    assert net.plain.weight.item() == 3 and net.sub.weight.item() == 3
    assert net.subsub.weight.item() != 3  # grand-child class: not a DIRECT subclass
    assert net.linear.weight.item() != 3
    ConstantInit(val=4, layer="MyConv2")(net)
    assert net.subsub.weight.item() == 4


def test_attention_out_proj_is_a_linear():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    in_proj = layer.self_attn.in_proj_weight.clone()
    initialize(layer, dict(type="Constant", layer="Linear", val=0.5, bias=0))
    assert torch.all(layer.self_attn.out_proj.weight == 0.5)  # NonDynamicallyQuantizableLinear
    assert torch.all(layer.linear1.weight == 0.5)
    assert torch.equal(layer.self_attn.in_proj_weight, in_proj)  # a raw Parameter, not a Linear


def test_type_may_be_the_class_itself():
    m = nn.Linear(4, 4)
    initialize(m, dict(type=ConstantInit, layer="Linear", val=2))
    assert torch.all(m.weight == 2)


def test_bias_prob_sets_the_bias():
    m = nn.Linear(4, 4)
    initialize(m, dict(type="Normal", layer="Linear", std=0.01, bias_prob=0.01))
    assert torch.allclose(m.bias, torch.full((4,), -math.log(99)))


def test_user_registered_initializer():
    @WEIGHT_INITIALIZERS.register_module(name="TestOnes", force=True)
    class OnesInit(BaseInit):
        def init_module(self, module):
            with torch.no_grad():
                module.weight.fill_(1)

    m = nn.Sequential(nn.Linear(3, 3))
    initialize(m, dict(type="TestOnes", layer="Linear"))
    assert torch.all(m[0].weight == 1)
