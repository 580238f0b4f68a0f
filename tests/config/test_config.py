"""Config as a dict: attribute access, copies, printing, dump round trips."""

import copy
import json

import pytest
import torch

from kiln.config import Config, ConfigDict


def test_attribute_access_nests_and_writes_through():
    cfg = Config(dict(train_cfg=dict(by_epoch=True, max_epochs=5), hooks=[dict(type="A")]))
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.hooks[0].type == "A"
    cfg.train_cfg.max_epochs = 3
    assert cfg["train_cfg"]["max_epochs"] == 3
    with pytest.raises(AttributeError, match="no key 'missing'"):
        cfg.missing  # noqa: B018


def test_deepcopy_keeps_type_and_independence():
    cfg = Config(dict(a=dict(b=[1, 2])), filename="x.py")
    clone = copy.deepcopy(cfg)
    clone.a.b.append(3)
    assert isinstance(clone, Config) and isinstance(clone.a, ConfigDict)
    assert cfg.a.b == [1, 2] and clone.filename == "x.py"


def test_fromfile_python_json_yaml(tmp_path):
    (tmp_path / "base.py").write_text("model = dict(type='Net', depth=18, act='relu')\nlr = 0.1\n")
    (tmp_path / "child.py").write_text(
        "import math\n_base_ = 'base.py'\nmodel = dict(depth=50)\n_private = 1\nwork_dir = './w'\n")
    cfg = Config.fromfile(tmp_path / "child.py")
    assert cfg.model == dict(type="Net", depth=50, act="relu")  # merged key by key
    assert cfg.lr == 0.1 and cfg.work_dir == "./w"
    assert "math" not in cfg and "_private" not in cfg and "_base_" not in cfg
    assert cfg.filename.endswith("child.py")

    (tmp_path / "c.json").write_text(json.dumps(dict(a=dict(b=1))))
    assert Config.fromfile(tmp_path / "c.json").a.b == 1
    (tmp_path / "c.yaml").write_text("a:\n  b: 2\n")
    assert Config.fromfile(tmp_path / "c.yaml").a.b == 2


def test_fromfile_missing_and_unsupported(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Config.fromfile(tmp_path / "nope.py")
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ValueError, match="unsupported suffix '.toml'"):
        Config.fromfile(tmp_path / "c.toml")


def test_print_shows_nested_values_as_plain_dicts():
    cfg = Config(dict(model=dict(type="Net", head=dict(num_classes=3)), ids=[dict(a=1)]), filename="x.py")
    assert str(cfg) == ("Config (path: x.py): {'model': {'type': 'Net', 'head': {'num_classes': 3}}, "
                        "'ids': [{'a': 1}]}")
    assert repr(cfg.model) == "{'type': 'Net', 'head': {'num_classes': 3}}"
    assert "Config (path" not in str(cfg)[len("Config (path"):]


def test_pretty_text_is_python_with_dict_calls():
    cfg = Config(dict(a=1, b=dict(c="x", d=[1, (2,)]), weird={"not-an-id": 1}))
    text = cfg.pretty_text
    assert text == "a = 1\nb = dict(c='x', d=[1, (2,)])\nweird = {'not-an-id': 1}\n"
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["b"] == {"c": "x", "d": [1, (2,)]}


def test_long_values_break_over_lines():
    cfg = Config(dict(model=dict(type="ResNet", depth=50, out_indices=(0, 1, 2, 3),
                                 norm_cfg=dict(type="BN", requires_grad=True), style="pytorch",
                                 init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet50"))))
    text = cfg.pretty_text
    assert text.startswith("model = dict(\n    type='ResNet',\n    depth=50,\n")
    assert all(len(line) <= 100 for line in text.splitlines())
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["model"] == cfg.to_dict()["model"]


CONTENT = dict(
    optim_wrapper=dict(optimizer=dict(type=torch.optim.SGD, lr=0.01, betas=(0.9, 0.99))),
    train_cfg=dict(by_epoch=True, max_epochs=2), names=["a", "b"], nothing=None,
    nested=dict(deeper=dict(flag=True, ratio=0.5)),
)


def test_py_dump_round_trips_to_an_equal_config_with_classes(tmp_path):
    cfg = Config(CONTENT)
    cfg.dump(tmp_path / "dumped.py")
    text = (tmp_path / "dumped.py").read_text()
    assert text.startswith("from torch.optim.sgd import SGD\n\n")  # classes are imported, not strings
    back = Config.fromfile(tmp_path / "dumped.py")
    assert back == cfg
    assert back.optim_wrapper.optimizer.type is torch.optim.SGD
    assert "SGD" not in back  # an imported name is not a config key


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_json_yaml_dump_round_trip(tmp_path, suffix):
    cfg = Config({k: v for k, v in CONTENT.items() if k != "optim_wrapper"})
    cfg.dump(tmp_path / f"dumped{suffix}")
    assert Config.fromfile(tmp_path / f"dumped{suffix}") == cfg


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_classes_dump_as_names_the_registry_imports(tmp_path, suffix):
    from kiln.registry import OPTIMIZERS

    Config(CONTENT).dump(tmp_path / f"dumped{suffix}")
    back = Config.fromfile(tmp_path / f"dumped{suffix}")
    assert back.optim_wrapper.optimizer.type == "torch.optim.sgd.SGD"
    assert OPTIMIZERS.get(back.optim_wrapper.optimizer.type) is torch.optim.SGD


def test_classes_that_cannot_be_imported_dump_as_strings(tmp_path):
    class Local:
        pass

    cfg = Config(dict(model=dict(type=Local)))
    cfg.dump(tmp_path / "d.py")
    back = Config.fromfile(tmp_path / "d.py")
    assert back.model.type.endswith("test_classes_that_cannot_be_imported_dump_as_strings.<locals>.Local")


def test_fromstring_and_merge():
    cfg = Config.fromstring("a = dict(b=1, c=dict(d=2))\n", ".py")
    cfg.a.merge(dict(c=dict(e=3), f=4))
    assert cfg.a == dict(b=1, c=dict(d=2, e=3), f=4)
    cfg.a.merge(dict(c=dict(_delete_=True, x=0)))
    assert cfg.a.c == dict(x=0)
    assert cfg.filename is None
