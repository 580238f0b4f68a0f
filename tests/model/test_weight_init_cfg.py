"""init_cfg semantics: override rules, dotted names, order, priority, containers, is_init."""

import pytest
import torch
import torch.nn as nn

from kiln.errors import ConfigError
from kiln.logging import close_log_file, get_logger
from kiln.model import BaseModule, ModuleDict, ModuleList, Sequential


@pytest.fixture(autouse=True)
def _console_logger():
    close_log_file()
    get_logger(log_level="INFO")


class Stem(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)


class Backbone(BaseModule):
    def __init__(self, init_cfg=None, stem_cfg=None):
        super().__init__(init_cfg)
        self.stem = Stem(stem_cfg)
        self.conv1 = nn.Conv2d(2, 2, 1)
        self.conv2 = nn.Conv2d(2, 2, 1)


def test_override_with_only_name_reuses_parent_type_and_args():
    net = Backbone(init_cfg=dict(type="Constant", val=2, bias=5, layer="Linear", override=dict(name="conv2")))
    net.init_weights()
    assert torch.all(net.conv2.weight == 2) and torch.all(net.conv2.bias == 5)
    assert not torch.all(net.conv1.weight == 2)


def test_override_with_type_uses_only_its_own_args():
    net = Backbone(init_cfg=dict(type="Constant", val=2, bias=5, layer="Conv2d",
                                 override=dict(name="conv2", type="Constant", val=7)))
    net.init_weights()
    assert torch.all(net.conv1.weight == 2) and torch.all(net.conv1.bias == 5)
    assert torch.all(net.conv2.weight == 7) and torch.all(net.conv2.bias == 0)


def test_override_list_and_dotted_name_cover_the_whole_submodule():
    net = Backbone(init_cfg=dict(type="Constant", val=1, layer="Conv2d", override=[
        dict(name="stem", type="Constant", val=3),
        dict(name="stem.conv", type="Constant", val=4)]))
    net.init_weights()
    assert torch.all(net.stem.bn.weight == 3)  # wholemodule: every module with weight/bias
    assert torch.all(net.stem.conv.weight == 4)
    assert torch.all(net.conv1.weight == 1)


def test_override_without_type_but_with_args_is_an_error():
    net = Backbone(init_cfg=dict(type="Constant", val=1, override=dict(name="conv1", val=3)))
    with pytest.raises(ConfigError, match=r"^init_cfg.override: an override with arguments \(val\) "
                                          r"must name its initializer with 'type'"):
        net.init_weights()


def test_override_without_name_is_an_error():
    net = Backbone(init_cfg=[dict(type="Constant", val=1, override=[dict(type="Xavier")])])
    with pytest.raises(ConfigError, match=r"^init_cfg\[0\].override\[0\]: an override must contain the key 'name'"):
        net.init_weights()


def test_dotted_override_name_error_says_where_it_stopped():
    net = Backbone(init_cfg=dict(type="Constant", val=1, override=dict(name="stem.conv9")))
    with pytest.raises(ConfigError) as info:
        net.init_weights()
    assert str(info.value) == ("init_cfg.override.name: 'stem.conv9' is not a submodule of Backbone "
                               "(stem has: conv, bn)")


def test_children_init_cfg_beats_parent_and_parent_pretrained_beats_all(tmp_path):
    source = Backbone()
    with torch.no_grad():
        for p in source.parameters():
            p.fill_(9)
    ckpt = tmp_path / "b.pth"
    torch.save({"state_dict": {k: v for k, v in source.state_dict().items() if not k.startswith("conv2")}}, ckpt)
    net = Backbone(init_cfg=[dict(type="Constant", val=1, layer="Conv2d"),
                             dict(type="Pretrained", checkpoint=str(ckpt))],
                   stem_cfg=dict(type="Constant", val=2, layer="Conv2d"))
    order = []
    real = net.stem.init_weights
    net.stem.init_weights = lambda: (order.append(net.conv1.weight.flatten()[0].item()), real())[1]
    net.init_weights()
    assert order == [1.0]  # the parent's own cfg ran before the child's init_weights
    assert torch.all(net.conv1.weight == 9) and torch.all(net.stem.conv.weight == 9)  # Pretrained last
    assert torch.all(net.conv2.weight == 1)  # not in the checkpoint: keeps the earlier init
    report = net.init_report().params
    assert report["conv1.weight"] == f"PretrainedInit: load from {ckpt}"
    assert report["conv2.weight"] == "ConstantInit: val=1, bias=0"


def test_child_cfg_overrides_parent_layer_cfg():
    net = Backbone(init_cfg=dict(type="Constant", val=1, layer="Conv2d"),
                   stem_cfg=dict(type="Constant", val=2, layer="Conv2d"))
    net.init_weights()
    assert torch.all(net.stem.conv.weight == 2) and torch.all(net.conv1.weight == 1)
    assert net.init_report().params["stem.conv.weight"] == "ConstantInit: val=2, bias=0"


def test_second_call_warns_and_does_nothing(capsys):
    net = Backbone(init_cfg=dict(type="Constant", val=1, layer="Conv2d"))
    net.init_weights()
    with torch.no_grad():
        net.conv1.weight.fill_(5)
    capsys.readouterr()
    net.init_weights()
    assert "WARNING - init_weights of Backbone has been called more than once." in capsys.readouterr().out
    assert torch.all(net.conv1.weight == 5)


def test_is_init_setter_skips_a_child():
    net = Backbone(stem_cfg=dict(type="Constant", val=2, layer="Conv2d"))
    before = net.stem.conv.weight.clone()
    net.stem.is_init = True
    net.init_weights()
    assert torch.equal(net.stem.conv.weight, before)
    assert net.is_init


def test_base_modules_inside_plain_torch_containers_are_initialized():
    class Holder(BaseModule):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(Stem(dict(type="Constant", val=3, layer="Conv2d")))
            self.lst = nn.ModuleList([Stem(dict(type="Constant", val=4, layer="Conv2d"))])
            self.dct = nn.ModuleDict({"a": Stem(dict(type="Constant", val=5, layer="Conv2d"))})

    net = Holder()
    net.init_weights()
    assert torch.all(net.seq[0].conv.weight == 3)
    assert torch.all(net.lst[0].conv.weight == 4)
    assert torch.all(net.dct["a"].conv.weight == 5)


@pytest.mark.parametrize("make", [
    lambda cfg, stem: Sequential(stem, init_cfg=cfg),
    lambda cfg, stem: ModuleList([stem], init_cfg=cfg),
    lambda cfg, stem: ModuleDict({"s": stem}, init_cfg=cfg),
])
def test_containers_apply_their_cfg_then_the_elements(make):
    stem = Stem(dict(type="Constant", val=2, layer="Conv2d"))
    container = make(dict(type="Constant", val=1, layer=["Conv2d", "BatchNorm2d"]), stem)
    container.init_weights()
    assert torch.all(stem.conv.weight == 2)  # inner init_cfg has the higher priority
    assert torch.all(stem.bn.weight == 1)
    assert "init_cfg={'type': 'Constant'" in repr(container)


def test_repr_without_init_cfg_is_torchs():
    assert repr(Stem()) == nn.Module.__repr__(Stem())


def test_user_overridden_init_weights_calling_super():
    class Custom(Stem):
        def init_weights(self):
            super().init_weights()
            with torch.no_grad():
                self.bn.bias.fill_(7)

    class Top(BaseModule):
        def __init__(self):
            super().__init__()
            self.custom = Custom(dict(type="Constant", val=2, layer="Conv2d"))

    net = Top()
    net.init_weights()
    report = net.init_report().params
    assert report["custom.conv.weight"] == "ConstantInit: val=2, bias=0"
    assert report["custom.bn.bias"] == "Initialized by user-defined `init_weights` in Custom"
    assert torch.all(net.custom.bn.bias == 7)
