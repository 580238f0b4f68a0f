import copy
import json

import pytest
import torch

from kiln.config import Config


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
    assert isinstance(clone, Config) and isinstance(clone.a, Config)
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


def test_fromfile_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Config.fromfile(tmp_path / "nope.py")
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ValueError, match="unsupported suffix '.toml'"):
        Config.fromfile(tmp_path / "c.toml")


@pytest.mark.parametrize("suffix", [".py", ".json", ".yaml"])
def test_dump_round_trip(tmp_path, suffix):
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type=torch.optim.SGD, lr=0.01)),
                      train_cfg=dict(by_epoch=True, max_epochs=2), names=["a", "b"]))
    path = tmp_path / f"dumped{suffix}"
    cfg.dump(path)
    back = Config.fromfile(path)
    assert back.train_cfg == dict(by_epoch=True, max_epochs=2)
    assert back.names == ["a", "b"]
    assert back.optim_wrapper.optimizer.type == "torch.optim.sgd.SGD"  # classes dump as names


def test_pretty_text_is_python_assignments():
    text = Config(dict(a=1, b=dict(c="x"))).pretty_text
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["a"] == 1 and namespace["b"] == {"c": "x"}
