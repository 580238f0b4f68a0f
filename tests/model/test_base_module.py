"""BaseModule basics: construction, is_init, repr, containers' constructors, public import paths."""

import copy

import pytest
import torch.nn as nn

import kiln.model
from kiln.model import BaseModule, ModuleDict, ModuleList, Sequential


def test_init_cfg_is_deep_copied_and_is_init_starts_false():
    cfg = dict(type="Kaiming", layer=["Conv2d"])
    module = BaseModule(cfg)
    cfg["layer"].append("Linear")
    assert module.init_cfg == dict(type="Kaiming", layer=["Conv2d"])
    assert module.is_init is False
    module.is_init = True
    assert module.is_init is True and module._is_init is True


def test_repr_appends_init_cfg():
    class Net(BaseModule):
        def __init__(self, init_cfg=None):
            super().__init__(init_cfg)
            self.fc = nn.Linear(1, 1)

    assert repr(Net(dict(type="Xavier", layer="Linear"))).endswith(
        ")\ninit_cfg={'type': 'Xavier', 'layer': 'Linear'}")
    assert "init_cfg" not in repr(Net())


def test_containers_behave_like_torch_containers():
    a, b = nn.Linear(1, 1), nn.ReLU()
    seq = Sequential(a, b, init_cfg=dict(type="Constant", val=1, layer="Linear"))
    assert list(seq) == [a, b] and seq[0] is a and seq.init_cfg["val"] == 1 and not seq.is_init
    lst = ModuleList([a, b])
    assert len(lst) == 2 and lst.init_cfg is None
    dct = ModuleDict({"a": a})
    assert dct["a"] is a and isinstance(dct, nn.ModuleDict)
    assert isinstance(copy.deepcopy(seq), BaseModule)


def test_init_report_before_init_weights_is_an_error():
    with pytest.raises(RuntimeError, match=r"BaseModule.init_report\(\): init_weights\(\) has not been called"):
        BaseModule().init_report()


@pytest.mark.parametrize("name", [
    "BaseModule", "ModuleList", "Sequential", "ModuleDict", "BaseInit", "ConstantInit", "XavierInit",
    "NormalInit", "TruncNormalInit", "UniformInit", "KaimingInit", "Caffe2XavierInit", "PretrainedInit",
    "initialize", "update_init_info", "constant_init", "xavier_init", "normal_init", "trunc_normal_init",
    "uniform_init", "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
])
def test_public_names_import_from_kiln_model(name):
    assert getattr(kiln.model, name) is not None


def test_registry_builds_without_importing_kiln_model_first():
    import subprocess
    import sys

    code = ("from kiln.registry import WEIGHT_INITIALIZERS as W; "
            "print(type(W.build(dict(type='Kaiming', layer='Conv2d'))).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "KaimingInit"
