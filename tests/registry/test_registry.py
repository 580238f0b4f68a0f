"""Registry: registration, lookup with lazy locations, build with path-named errors."""

import pytest

from kiln.errors import ConfigError
from kiln.registry import Registry, build_from_cfg


@pytest.fixture
def reg():
    registry = Registry("thing")

    @registry.register_module()
    class Widget:
        def __init__(self, size, color="red"):
            self.size, self.color = size, color

    @registry.register_module(name=["gadget", "Gizmo"])
    def make_gadget(n=1):
        return ("gadget", n)

    return registry


def test_build_by_name_and_by_class(reg):
    w = reg.build(dict(type="Widget", size=3))
    assert (w.size, w.color) == (3, "red")
    cls = reg.get("Widget")
    assert reg.build(dict(type=cls, size=1, color="blue")).color == "blue"


def test_aliases_and_functions(reg):
    assert reg.build(dict(type="gadget", n=2)) == ("gadget", 2)
    assert reg.get("Gizmo") is reg.get("gadget")
    assert "Gizmo" in reg and "nope" not in reg
    assert len(reg) == 3


def test_default_args_fill_missing_keys_only(reg):
    w = build_from_cfg(dict(type="Widget", size=2), reg, default_args=dict(size=9, color="g"))
    assert (w.size, w.color) == (2, "g")


def test_unknown_type_suggests_closest_and_names_path(reg):
    with pytest.raises(ConfigError) as info:
        build_from_cfg(dict(type="Widgt", size=1), reg, path="model.head")
    msg = str(info.value)
    assert msg.startswith("model.head.type: 'Widgt' is not registered in the thing registry")
    assert "did you mean 'Widget'" in msg


def test_unexpected_argument_lists_accepted_ones(reg):
    with pytest.raises(ConfigError) as info:
        reg.build(dict(type="Widget", size=1, colour="red"))
    msg = str(info.value)
    assert "'colour' (did you mean 'color'?)" in msg and "accepts: color, size" in msg


def test_missing_required_argument(reg):
    with pytest.raises(ConfigError, match="missing required argument"):
        reg.build(dict(type="Widget"))


def test_missing_type_and_non_dict(reg):
    with pytest.raises(ConfigError, match="must contain the key 'type'"):
        reg.build(dict(size=1))
    with pytest.raises(ConfigError, match="expected a dict"):
        build_from_cfg(["Widget"], reg, path="x")


def test_duplicate_registration_needs_force(reg):
    class Widget:  # noqa: D401 - a different class with the same name
        pass

    with pytest.raises(KeyError, match="already registered"):
        reg.register_module(module=Widget)
    reg.register_module(module=Widget, force=True)
    assert reg.get("Widget") is Widget


def test_locations_are_imported_on_first_miss(tmp_path, monkeypatch):
    pkg = tmp_path / "late_plugin.py"
    pkg.write_text(
        "from kiln.registry import Registry\n"
        "import sys\n"
        "reg = sys.modules['__late_registry__']\n"
        "@reg.register_module()\n"
        "class Late:\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    registry = Registry("late", locations=["late_plugin"])
    sys.modules["__late_registry__"] = registry
    try:
        assert registry.get("Late").__name__ == "Late"
    finally:
        del sys.modules["__late_registry__"]
        sys.modules.pop("late_plugin", None)


def test_missing_optional_location_is_skipped():
    registry = Registry("opt", locations=["kiln_no_such_module_xyz"])
    assert registry.get("Anything") is None
