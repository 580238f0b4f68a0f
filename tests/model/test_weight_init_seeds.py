"""The seeds' weight-init and BaseModule examples: the weights they produce and the lines they print.

Timestamps and the logger name are ignored (seeds print ``mmengine``, kiln prints ``kiln``), as
are trailing spaces and blank lines. One deliberate difference: the seeds show ``conv2.bias``
as set by KaimingInit in the override example, but XavierInit wrote it last (its bias=0 fill);
MMEngine's mean-change heuristic cannot see a write that keeps the value. kiln reports the
last writer, as issue 2 requires.
"""

import copy
import re

import pytest
import torch
import torch.nn as nn
from torch.nn.init import constant_, kaiming_normal_, normal_, xavier_normal_

from kiln.errors import ConfigError
from kiln.logging import close_log_file, get_logger
from kiln.model import BaseModule, kaiming_init, normal_init, xavier_init

_PREFIX = re.compile(r"^\d\d/\d\d \d\d:\d\d:\d\d - \w+ - ")


def normalized(text: str) -> list[str]:
    return [_PREFIX.sub("", line).rstrip() for line in text.splitlines() if line.strip()]


def seed_blocks(*blocks: tuple[str, str, str]) -> list[str]:
    """The seeds' per-parameter blocks, normalized like the captured output."""
    lines = []
    for name, shape, info in blocks:
        lines += ["INFO -", f"{name} - {shape}:", info]
    return lines


KAIMING = "KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0"
XAVIER = "XavierInit: gain=1, distribution=normal, bias=0"


@pytest.fixture(autouse=True)
def _console_logger():
    close_log_file()
    get_logger(log_level="INFO")
    yield


class LinearConvNet(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.linear = nn.Linear(1, 1)
        self.conv = nn.Conv2d(1, 1, 1)


class TwoConvNet(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv1 = nn.Conv2d(1, 1, 1)
        self.conv2 = nn.Conv2d(1, 1, 1)


class ToyConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.custom_weight = nn.Parameter(torch.empty(1, 1, 1, 1))
        self.custom_bias = nn.Parameter(torch.empty(1))

    def init_weights(self):
        with torch.no_grad():
            self.custom_weight = self.custom_weight.fill_(1)
            self.custom_bias = self.custom_bias.fill_(0)


class CustomNet(TwoConvNet):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.custom_conv = ToyConv()


def run_seeded(net: nn.Module, reference) -> nn.Module:
    """init_weights() under a fixed RNG, and the reference ops under the same RNG on a copy."""
    ref = copy.deepcopy(net)
    torch.manual_seed(1)
    net.init_weights()
    torch.manual_seed(1)
    with torch.no_grad():
        reference(ref)
    for (name, a), (_, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), name
    return net


def test_pretrained_example(tmp_path, monkeypatch, capsys):
    class ToyNet(BaseModule):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Linear(1, 1)

    monkeypatch.chdir(tmp_path)
    toy_net = ToyNet()
    torch.save(toy_net.state_dict(), "./pretrained.pth")
    pretrained = "./pretrained.pth"
    toy_net2 = ToyNet(init_cfg=dict(type="Pretrained", checkpoint=pretrained))
    capsys.readouterr()
    toy_net2.init_weights()
    lines = normalized(capsys.readouterr().out)
    assert lines[:2] == ["INFO - load model from: ./pretrained.pth",
                         "INFO - local loads checkpoint from path: ./pretrained.pth"]
    for key, value in toy_net.state_dict().items():
        assert torch.equal(toy_net2.state_dict()[key], value)
    assert set(toy_net2.init_report().params.values()) == {"PretrainedInit: load from ./pretrained.pth"}


def test_kaiming_conv_xavier_linear(capsys):
    net = LinearConvNet(init_cfg=[dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", layer="Linear")])

    def reference(ref):
        kaiming_normal_(ref.conv.weight, mode="fan_out", nonlinearity="relu")
        constant_(ref.conv.bias, 0)
        xavier_normal_(ref.linear.weight, gain=1)
        constant_(ref.linear.bias, 0)

    run_seeded(net, reference)
    assert normalized(capsys.readouterr().out) == seed_blocks(
        ("linear.weight", "torch.Size([1, 1])", XAVIER),
        ("linear.bias", "torch.Size([1])", XAVIER),
        ("conv.weight", "torch.Size([1, 1, 1, 1])", KAIMING),
        ("conv.bias", "torch.Size([1])", KAIMING),
    )


def test_kaiming_on_a_list_of_layers(capsys):
    net = LinearConvNet(init_cfg=[dict(type="Kaiming", layer=["Conv2d", "Linear"])])

    def reference(ref):  # post-order over children: linear then conv
        for m in (ref.linear, ref.conv):
            kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            constant_(m.bias, 0)

    run_seeded(net, reference)
    assert normalized(capsys.readouterr().out) == seed_blocks(
        ("linear.weight", "torch.Size([1, 1])", KAIMING),
        ("linear.bias", "torch.Size([1])", KAIMING),
        ("conv.weight", "torch.Size([1, 1, 1, 1])", KAIMING),
        ("conv.bias", "torch.Size([1])", KAIMING),
    )


def _override_reference(ref):
    for m in (ref.conv1, ref.conv2):
        kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        constant_(m.bias, 0)
    xavier_normal_(ref.conv2.weight, gain=1)
    constant_(ref.conv2.bias, 0)


OVERRIDE_CFG = [dict(type="Kaiming", layer=["Conv2d"], override=dict(name="conv2", type="Xavier"))]
OVERRIDE_BLOCKS = [
    ("conv1.weight", "torch.Size([1, 1, 1, 1])", KAIMING),
    ("conv1.bias", "torch.Size([1])", KAIMING),
    ("conv2.weight", "torch.Size([1, 1, 1, 1])", XAVIER),
    ("conv2.bias", "torch.Size([1])", XAVIER),  # seeds: KaimingInit (MMEngine's misreport)
]


def test_override_example(capsys):
    run_seeded(TwoConvNet(init_cfg=OVERRIDE_CFG), _override_reference)
    assert normalized(capsys.readouterr().out) == seed_blocks(*OVERRIDE_BLOCKS)


def test_custom_init_weights_example(capsys):
    net = CustomNet(init_cfg=OVERRIDE_CFG)

    def reference(ref):
        _override_reference(ref)
        ref.custom_conv.custom_weight.fill_(1)
        ref.custom_conv.custom_bias.fill_(0)

    run_seeded(net, reference)
    assert net.custom_conv.custom_weight.item() == 1 and net.custom_conv.custom_bias.item() == 0
    user = "Initialized by user-defined `init_weights` in ToyConv"
    assert normalized(capsys.readouterr().out) == seed_blocks(
        *OVERRIDE_BLOCKS,
        ("custom_conv.custom_weight", "torch.Size([1, 1, 1, 1])", user),
        ("custom_conv.custom_bias", "torch.Size([1])", user),
    )


def test_functional_examples(capsys):
    model = nn.Conv2d(1, 1, 1)
    normal_(model.weight, mean=0, std=0.01)
    print(constant_(model.bias, val=0))
    assert capsys.readouterr().out.strip() == "Parameter containing:\ntensor([0.], requires_grad=True)"
    model.bias.data.fill_(3)
    assert normal_init(model, mean=0, std=0.01, bias=0) is None
    assert model.bias.item() == 0
    assert kaiming_init(model) is None and xavier_init(model) is None
    assert model.bias.item() == 0


# -- the user's notebook (init-notebook.zh.md): its bugs give clear errors ---------------------
class MyToy(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 3, 1)


def test_notebook_placeholder_checkpoint_path_is_a_clear_error():
    net = MyToy(init_cfg=dict(type="Pretrained", checkpoint="path or url to pretrained model"))
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ConfigError, match=r"init_cfg.checkpoint: checkpoint 'path or url to "
                                          r"pretrained model' does not exist"):
        net.init_weights()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert not net.is_init


def test_notebook_linear_that_does_not_exist_is_warned(capsys):
    MyToy(init_cfg=[dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", layer="Linear")]).init_weights()
    out = capsys.readouterr().out
    assert "WARNING - init_cfg[1].layer: no submodule of MyToy is a 'Linear'" in out
    assert "conv.weight - torch.Size([3, 3, 1, 1]): \n" + KAIMING in out


def test_notebook_override_of_a_missing_conv2_is_a_clear_error():
    net = MyToy(init_cfg=[dict(type="Kaiming", layer=["Conv2d"], override=dict(name="conv2", type="Xavier"))])
    with pytest.raises(ConfigError) as info:
        net.init_weights()
    assert str(info.value) == "init_cfg[0].override.name: 'conv2' is not a submodule of MyToy (it has: conv)"


def test_notebook_paramter_typo_fails_loudly():
    class ToyConvTypo(nn.Module):
        def __init__(self):
            super().__init__()
            self.custom_weights = nn.Paramter(torch.empty(1, 1, 1, 1))

    with pytest.raises(AttributeError, match="Paramter"):
        ToyConvTypo()


def test_notebook_data_fill_custom_init(capsys):
    class NotebookConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.custom_weights = nn.Parameter(torch.empty(1, 1, 1, 1))
            self.custom_bias = nn.Parameter(torch.empty(1))

        def init_weights(self):
            with torch.no_grad():
                self.custom_weights.data.fill_(1)  # through .data: no version bump
                self.custom_bias.data.fill_(2)

    class ToyNet(BaseModule):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.conv1 = nn.Conv2d(3, 16, 3)
            self.conv2 = nn.Conv2d(3, 16, 3)
            self.custom_conv = NotebookConv()

    net = ToyNet(init_cfg=dict(type="Kaiming", layer=["Conv2d"], override=dict(name="conv2", type="Xavier")))
    net.init_weights()
    assert net.custom_conv.custom_weights.item() == 1 and net.custom_conv.custom_bias.item() == 2
    params = net.init_report().params
    assert params["custom_conv.custom_weights"] == "Initialized by user-defined `init_weights` in NotebookConv"
    assert params["custom_conv.custom_bias"] == "Initialized by user-defined `init_weights` in NotebookConv"
    assert params["conv2.weight"] == XAVIER and params["conv1.weight"] == KAIMING


def test_early_draft_plain_class_component_is_a_clear_error():
    class PlainToyConv:  # model-guide-early.zh.md: not an nn.Module
        def __init__(self):
            super().__init__()
            self.custom_weight = nn.Parameter(torch.empty(1, 1, 1, 1))
            self.custom_bias = nn.Parameter(torch.empty(1))

        def init_weights(self):
            with torch.no_grad():
                self.custom_weight = self.custom_weight.fill_(1)
                self.custom_bias = self.custom_bias.fill_(0)

    class ToyNet(TwoConvNet):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.custom_conv = PlainToyConv()

    net = ToyNet(init_cfg=OVERRIDE_CFG)
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(TypeError, match=r"ToyNet.custom_conv is a PlainToyConv, which is not an "
                                        r"nn.Module.*\(custom_weight, custom_bias\)"):
        net.init_weights()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
