"""Compose: dict configs built through TRANSFORMS, callables kept, None stops the chain."""

import pytest

from kiln.dataset import Compose
from kiln.errors import ConfigError
from kiln.registry import TRANSFORMS


@TRANSFORMS.register_module(force=True)
class AddOne:
    def __init__(self, key="x"):
        self.key = key

    def __call__(self, data):
        return dict(data, **{self.key: data[self.key] + 1})


def test_dicts_and_callables_in_order():
    pipeline = Compose([dict(type="AddOne"), lambda d: dict(d, x=d["x"] * 10), dict(type=AddOne)])
    assert pipeline({"x": 1}) == {"x": 21}
    assert "AddOne" in repr(pipeline)


def test_none_short_circuits():
    calls = []
    pipeline = Compose([lambda d: None, lambda d: calls.append(d)])
    assert pipeline({"x": 1}) is None and calls == []


def test_empty_none_and_single_transform():
    assert Compose()({"x": 1}) == {"x": 1} and Compose(None)({"x": 1}) == {"x": 1}
    assert Compose(dict(type="AddOne"))({"x": 1}) == {"x": 2}


def test_bad_transforms_name_their_position():
    with pytest.raises(TypeError, match=r"pipeline\[1\]: a transform must be a dict config or a callable"):
        Compose([dict(type="AddOne"), 3])
    with pytest.raises(ConfigError, match=r"pipeline\[0\]\.type: 'AdOne' is not registered .*did you mean 'AddOne'"):
        Compose([dict(type="AdOne")])
    with pytest.raises(ConfigError, match=r"pipeline\[0\]: AddOne got unexpected argument"):
        Compose([dict(type="AddOne", kee="x")])
    with pytest.raises(TypeError, match="list of transform"):
        Compose("AddOne")
