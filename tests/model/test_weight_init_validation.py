"""Bad init_cfg input: every error names its config path and leaves every tensor as it was."""

import copy

import pytest
import torch
import torch.nn as nn

from kiln.errors import CheckpointError, ConfigError
from kiln.logging import close_log_file, get_logger
from kiln.model import BaseInit, BaseModule, initialize
from kiln.registry import WEIGHT_INITIALIZERS


@pytest.fixture(autouse=True)
def _console_logger():
    close_log_file()
    get_logger(log_level="INFO")


class Inner(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm2d(2)


class ToyNet(BaseModule):
    def __init__(self, init_cfg=None, inner_cfg=None):
        super().__init__(init_cfg)
        self.conv1 = nn.Conv2d(1, 2, 1)
        self.conv2 = nn.Conv2d(2, 2, 1)
        self.inner = Inner(inner_cfg)


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = module.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), f"{key} changed"
    assert not any(getattr(m, "is_init", False) for m in module.modules())


GOOD = dict(type="Constant", val=3, layer="Conv2d")

CASES = [
    # (init_cfg, inner_cfg, error type, message start)
    ([GOOD, dict(type="Kaimng", layer="Conv2d")], None, ConfigError,
     "init_cfg[1].type: 'Kaimng' is not registered in the weight initializer registry; did you mean 'Kaiming'?"),
    ([GOOD, dict(type="Kaiming", layer="Conv2d", moed="fan_in")], None, ConfigError,
     "init_cfg[1]: KaimingInit got unexpected argument(s) 'moed' (did you mean 'mode'?)"),
    ([GOOD, dict(layer="Conv2d")], None, ConfigError, "init_cfg[1]: the dict must contain the key 'type'"),
    ([GOOD, dict(type="Constant", layer="Conv2d")], None, ConfigError,
     "init_cfg[1]: ConstantInit is missing required argument(s): val"),
    ([GOOD, dict(type="Kaiming", mode="fan", layer="Conv2d")], None, ConfigError,
     "init_cfg[1]: mode must be 'fan_in' or 'fan_out', but got 'fan'"),
    ([GOOD, dict(type="Kaiming", layer="Conv2d", override=dict(name="conv9", type="Xavier"))], None,
     ConfigError, "init_cfg[1].override.name: 'conv9' is not a submodule of ToyNet (it has: conv1, conv2, inner)"),
    ([GOOD, dict(type="Kaiming", layer="Conv2d", override=3)], None, ConfigError,
     "init_cfg[1].override: override must be a dict or a list of dicts"),
    ([GOOD, 5], None, ConfigError, "init_cfg[1]: expected a dict with a 'type' key"),
    ("Kaiming", None, ConfigError, "init_cfg: init_cfg must be a dict or a list of dicts, but got str"),
    # errors inside a nested module's init_cfg are found before the parent's own cfg runs
    (GOOD, [dict(type="Xavier", layer="Conv2d", gain="x", distribution="gaussian")], ConfigError,
     "inner.init_cfg[0]: distribution must be 'uniform' or 'normal'"),
    # would only fail while applying: Kaiming/Xavier on a 1-D BatchNorm weight
    ([GOOD, dict(type="Kaiming", layer="Conv2d", override=dict(name="inner", type="Kaiming"))], None,
     ConfigError, "init_cfg[1].override: KaimingInit cannot initialize inner.bn.weight (a BatchNorm2d, shape [2])"),
    (GOOD, dict(type="Xavier", layer="BatchNorm2d"), ConfigError,
     "inner.init_cfg: XavierInit cannot initialize bn.weight"),
    ([GOOD, dict(type="Pretrained", checkpoint="missing.pth")], None, ConfigError,
     "init_cfg[1].checkpoint: checkpoint 'missing.pth' does not exist"),
]


@pytest.mark.parametrize("init_cfg,inner_cfg,error,message", CASES)
def test_bad_cfg_names_path_and_changes_nothing(init_cfg, inner_cfg, error, message):
    net = ToyNet(init_cfg, inner_cfg)
    before = state(net)
    with pytest.raises(error) as info:
        net.init_weights()
    assert str(info.value).startswith(message), str(info.value)
    assert_unchanged(net, before)


def test_unreadable_checkpoint_changes_nothing(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    net = ToyNet([GOOD, dict(type="Pretrained", checkpoint=str(bad))])
    before = state(net)
    with pytest.raises(CheckpointError, match=r"^init_cfg\[1\].checkpoint: checkpoint .*bad.pth' cannot be read"):
        net.init_weights()
    assert_unchanged(net, before)


def test_missing_prefix_changes_nothing(tmp_path):
    ckpt = tmp_path / "c.pth"
    torch.save(ToyNet().state_dict(), ckpt)
    net = ToyNet([GOOD, dict(type="Pretrained", checkpoint=str(ckpt), prefix="backbone")])
    before = state(net)
    with pytest.raises(CheckpointError, match=r"^init_cfg\[1\].prefix: prefix 'backbone' is not in "
                                              r"the checkpoint \(its top-level key prefixes are: conv1, conv2, inner\)"):
        net.init_weights()
    assert_unchanged(net, before)


def test_user_init_weights_that_raises_is_rolled_back():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def init_weights(self):
            with torch.no_grad():
                self.w.fill_(1)
            self.w.data = torch.ones(5)  # even a replaced tensor comes back
            raise RuntimeError("user bug")

    class Net(ToyNet):
        def __init__(self):
            super().__init__(GOOD, dict(type="Constant", val=4, layer="BatchNorm2d"))
            self.broken = Broken()

    net = Net()
    before = state(net)
    with pytest.raises(RuntimeError, match="user bug"):
        net.init_weights()
    assert_unchanged(net, before)
    assert net.broken.w.shape == (3,)


def test_user_initializer_that_raises_is_rolled_back():
    @WEIGHT_INITIALIZERS.register_module(name="TestExploding", force=True)
    class Exploding(BaseInit):
        def __call__(self, module):
            with torch.no_grad():
                module.conv1.weight.fill_(42)
            raise ValueError("boom")

    net = ToyNet([GOOD, dict(type="TestExploding")])
    before = state(net)
    with pytest.raises(ValueError, match="boom"):
        net.init_weights()
    assert_unchanged(net, before)
    net.init_cfg = [GOOD]
    net.init_weights()  # the module can be initialized after fixing the config
    assert torch.all(net.conv1.weight == 3)


def test_initialize_checks_the_whole_list_first():
    m = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1))
    before = state(m)
    with pytest.raises(ConfigError, match=r"^init_cfg\[1\]: KaimingInit cannot initialize 1.weight"):
        initialize(m, [dict(type="Constant", val=2, layer="Conv2d"), dict(type="Kaiming", layer="BatchNorm2d")])
    for key, value in before.items():
        assert torch.equal(m.state_dict()[key], value)


def test_layer_matching_nothing_is_warned_with_a_hint(capsys):
    ToyNet(dict(type="Constant", val=1, layer=["Conv2D", "Conv2d"])).init_weights()
    out = capsys.readouterr().out
    assert ("WARNING - init_cfg.layer: no submodule of ToyNet is a 'Conv2D' (or a direct subclass of one), "
            "so ConstantInit initializes nothing for it; did you mean 'Conv2d'?") in out
    assert "'Conv2d' (or" not in out


def test_cfg_without_layer_or_override_is_warned(capsys):
    net = ToyNet(dict(type="Constant", val=1))
    before = state(net)
    net.init_weights()
    assert ("WARNING - init_cfg: ConstantInit has neither 'layer' nor 'override', so it initializes "
            "nothing in ToyNet") in capsys.readouterr().out
    for key, value in before.items():
        assert torch.equal(net.state_dict()[key], value)


def test_cfg_is_not_mutated():
    cfg = [dict(type="Kaiming", layer="Conv2d", override=dict(name="conv2", type="Xavier"))]
    original = copy.deepcopy(cfg)
    net = ToyNet(cfg)
    net.init_weights()
    assert cfg == original and net.init_cfg == original


def test_no_layer_warning_only_for_layer_driven_initializers(capsys):
    @WEIGHT_INITIALIZERS.register_module(name="TestWhole", force=True)
    class Whole(BaseInit):
        def __call__(self, module):  # decides by itself what to write
            with torch.no_grad():
                module.conv1.weight.fill_(1)

    ToyNet([dict(type="TestWhole")]).init_weights()
    assert "WARNING" not in capsys.readouterr().out
