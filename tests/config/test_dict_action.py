"""``DictAction`` (MMEngine's ``--cfg-options`` value syntax) and ``Config.merge_from_dict``."""

import argparse

import pytest

from kiln.config import Config, DictAction
from kiln.errors import ConfigError


@pytest.mark.parametrize("text,value", [
    ("1", 1), ("-3", -3), ("1.5", 1.5), ("1e-3", 1e-3),
    ("True", True), ("false", False), ("None", None), ("none", "none"),
    ("abc", "abc"), ("", ""),
    ("a,b", ["a", "b"]), ("1,2", [1, 2]),
    ("[1,2]", [1, 2]), ("[1, 2]", [1, 2]), ("[]", []),
    ("(a,b)", ("a", "b")), ("'(a,b)'", ("a", "b")), ('"(1,2)"', (1, 2)), ("(1,)", (1,)),
    ("[(1,2),[a,b],c]", [(1, 2), ["a", "b"], "c"]),
    ("[[1,2],[3,4]]", [[1, 2], [3, 4]]),
    ("path/to/x.pth", "path/to/x.pth"),
])
def test_value_syntax(text, value):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    got = parser.parse_args(["--cfg-options", f"key={text}"]).cfg_options["key"]
    assert got == value and type(got) is type(value)


def test_later_options_win_and_values_keep_equals():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(["--cfg-options", "a=1", "b=x=y", "a=2"])
    assert args.cfg_options == {"a": 2, "b": "x=y"}


def test_missing_equals_is_an_argparse_error(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--cfg-options", "lonely"])
    assert info.value.code == 2
    assert "expected KEY=VALUE, but got 'lonely'" in capsys.readouterr().err


def test_merge_from_dict_dotted_keys_lists_and_new_keys():
    cfg = Config(dict(model=dict(backbone=dict(depth=18, style="pytorch")),
                      pipeline=[dict(type="Load"), dict(type="Resize", scale=(1, 1))],
                      a=dict(b=dict(c=0))))
    cfg.merge_from_dict({"a.b.c": 1, "model.backbone.depth": 50, "pipeline.1.scale": (2, 2),
                         "randomness.seed": 0, "model.neck": None})
    assert cfg.a.b.c == 1
    assert cfg.model.backbone == dict(depth=50, style="pytorch")  # sibling kept
    assert cfg.pipeline == [dict(type="Load"), dict(type="Resize", scale=(2, 2))]
    assert cfg.randomness == dict(seed=0)  # new keys are added, as in MMEngine
    assert cfg.model.neck is None


def test_merge_from_dict_replaces_a_whole_value_and_fills_none():
    cfg = Config(dict(model=dict(init_cfg=None), steps=[1, 2]))
    cfg.merge_from_dict({"model.init_cfg.type": "Pretrained", "steps": [3]})
    assert cfg.model.init_cfg == dict(type="Pretrained") and cfg.steps == [3]


def test_merge_from_dict_errors_name_the_key():
    cfg = Config(dict(pipeline=[dict(type="Load")], lr=0.1))
    with pytest.raises(ConfigError) as info:
        cfg.merge_from_dict({"pipeline.3.type": "X"})
    assert str(info.value) == "pipeline.3: index 3 is out of range: pipeline has 1 items"
    with pytest.raises(ConfigError) as info:
        cfg.merge_from_dict({"lr.value": 1})
    assert str(info.value) == ("--cfg-options: lr: is a dict here but float 0.1 in the base config, so it "
                               "cannot be merged into it; add _delete_=True to replace the base value")
