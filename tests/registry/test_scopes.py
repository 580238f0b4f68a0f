"""Registry trees: a downstream package's child registry, 'scope.Name', parent fallback, default scope."""

import sys
import textwrap

import pytest
from torch import nn

from kiln.errors import ConfigError
from kiln.registry import MODELS, DefaultScope, Registry, init_default_scope

DOWNSTREAM = {
    "h7down/__init__.py": "",
    # as in an OpenMMLab package: children of the root registries, entries in `locations`
    "h7down/registry.py": """\
        from kiln.registry import MODELS as KILN_MODELS
        from kiln.registry import Registry

        MODELS = Registry('model', parent=KILN_MODELS, locations=['h7down.models'])
        """,
    "h7down/models.py": """\
        from torch import nn
        from h7down.registry import MODELS

        @MODELS.register_module()
        class H7ResNet(nn.Module):
            def __init__(self, depth=18):
                super().__init__()
                self.depth = depth
                self.fc = nn.Linear(2, 2)

        @MODELS.register_module()
        class H7Shared(nn.Module):
            origin = 'h7down'
        """,
}


class RootShared(nn.Module):
    origin = "root"


@pytest.fixture
def downstream(tmp_path, monkeypatch):
    for name, text in DOWNSTREAM.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    MODELS.register_module(name="H7Shared", module=RootShared)
    instances, current = dict(DefaultScope._instances), list(DefaultScope._current)
    yield
    DefaultScope._instances.clear()
    DefaultScope._instances.update(instances)
    DefaultScope._current[:] = current
    MODELS._children.pop("h7down", None)
    MODELS._module_dict.pop("H7Shared", None)
    for name in [n for n in sys.modules if n == "h7down" or n.startswith("h7down.")]:
        del sys.modules[name]


def test_scope_is_the_creating_package_and_locations_load_lazily(downstream):
    from h7down.registry import MODELS as CHILD

    assert CHILD.scope == "h7down" and CHILD.parent is MODELS and MODELS.children["h7down"] is CHILD
    assert CHILD.root is MODELS and MODELS.scope == "kiln"
    assert "h7down.models" not in sys.modules
    assert CHILD.get("H7ResNet").__module__ == "h7down.models"


def test_child_falls_back_to_its_parent(downstream):
    from h7down.registry import MODELS as CHILD

    from kiln.model import ImgDataPreprocessor

    assert CHILD.get("ImgDataPreprocessor") is ImgDataPreprocessor
    assert CHILD.get("H7Shared").origin == "h7down"  # its own entry first
    assert CHILD.get("mmengine.ImgDataPreprocessor") is ImgDataPreprocessor  # the root's scope names
    assert CHILD.get("kiln.H7Shared") is RootShared
    assert CHILD.build(dict(type="H7ResNet", depth=50)).depth == 50


def test_scoped_name_from_the_root_imports_the_package_registry(downstream):
    assert "h7down.registry" not in sys.modules
    model = MODELS.build(dict(type="h7down.H7ResNet", depth=34))
    assert type(model).__module__ == "h7down.models" and model.depth == 34
    assert MODELS.get("h7down.H7Shared").origin == "h7down"
    assert MODELS.get("H7Shared") is RootShared  # no default scope: the root's own entry


def test_default_scope_picks_the_child_for_plain_names(downstream):
    with pytest.raises(ConfigError, match=r"'H7ResNet' is not registered in the model registry"):
        MODELS.build(dict(type="H7ResNet"))
    init_default_scope("h7down")
    assert DefaultScope.get_current_instance().scope_name == "h7down"
    assert type(MODELS.build(dict(type="H7ResNet"))).__module__ == "h7down.models"
    assert MODELS.build(dict(type="H7Shared")).origin == "h7down"
    assert MODELS.build(dict(type="H7Shared", _scope_="kiln")).origin == "root"  # _scope_ overrides


def test_a_default_scope_above_a_child_does_not_hide_its_entries(downstream):
    from h7down.registry import MODELS as CHILD

    DefaultScope.get_instance("h7-runner", scope_name="mmengine")  # what a Runner's default sets
    assert CHILD.build(dict(type="H7Shared")).origin == "h7down"
    assert MODELS.build(dict(type="H7Shared")).origin == "root"


def test_switch_scope_and_registry(downstream):
    import h7down.registry

    with MODELS.switch_scope_and_registry("h7down") as registry:
        assert registry is h7down.registry.MODELS
        assert DefaultScope.get_current_instance().scope_name == "h7down"
    with MODELS.switch_scope_and_registry(None) as registry:
        assert registry is MODELS or DefaultScope.get_current_instance() is not None


def test_overwrite_default_scope_restores_the_previous_one(downstream):
    DefaultScope.get_instance("h7-outer", scope_name="kiln")
    with DefaultScope.overwrite_default_scope("h7down"):
        assert DefaultScope.get_current_instance().scope_name == "h7down"
    assert DefaultScope.get_current_instance().instance_name == "h7-outer"
    assert DefaultScope.get_instance("h7-outer") is DefaultScope.get_current_instance()
    with pytest.raises(KeyError, match="no DefaultScope named 'h7-missing'"):
        DefaultScope.get_instance("h7-missing")


def test_runner_default_scope_builds_the_packages_model(downstream, tmp_path):
    from kiln.runner import Runner

    runner = Runner(model=dict(type="H7ResNet", depth=101), work_dir=str(tmp_path / "w"),
                    default_scope="h7down", experiment_name="h7scope")
    assert type(runner.model).__module__ == "h7down.models" and runner.model.depth == 101
    assert runner.default_scope.scope_name == "h7down"


def test_unknown_scoped_name_names_the_scope(downstream):
    import h7down.registry

    with pytest.raises(ConfigError) as info:
        MODELS.build(dict(type="h7down.H7ResNte"), path="model")
    assert str(info.value).startswith("model.type: 'h7down.H7ResNte' is not registered in the model "
                                      "registry (scope 'h7down'); did you mean 'H7ResNet'? (registered: ")
    with pytest.raises(ConfigError) as info:
        MODELS.build(dict(type="h7nopkg.Net"), path="model")
    assert str(info.value) == ("model.type: 'h7nopkg.Net': 'h7nopkg' is not a scope of the model registry "
                               "(scopes: h7down, kiln) nor an importable module path; is its package installed?")
    with pytest.raises(ConfigError, match=r"is not registered in the model registry \(scope 'h7down'\)"):
        h7down.registry.MODELS.build(dict(type="NoSuchThing"), path="model")


def test_two_children_with_one_scope_are_refused():
    root = Registry("thing", scope="h7root")
    Registry("thing", parent=root, scope="a")
    with pytest.raises(KeyError, match="already has a child with scope 'a'"):
        Registry("thing", parent=root, scope="a")


def test_child_inherits_the_parents_build_func():
    calls = []

    def build(cfg, registry, default_args=None):
        calls.append(registry.scope)
        return cfg["type"]

    root = Registry("thing", build_func=build, scope="h7root")
    child = Registry("thing", parent=root, scope="h7child")
    assert child.build(dict(type="x")) == "x" and calls == ["h7child"]


MMENGINE_REGISTRIES = (
    "RUNNERS", "RUNNER_CONSTRUCTORS", "LOOPS", "HOOKS", "STRATEGIES", "DATASETS", "DATA_SAMPLERS",
    "TRANSFORMS", "MODELS", "WEIGHT_INITIALIZERS", "OPTIMIZERS", "OPTIM_WRAPPERS",
    "OPTIM_WRAPPER_CONSTRUCTORS", "PARAM_SCHEDULERS", "METRICS", "EVALUATOR", "TASK_UTILS",
    "VISUALIZERS", "VISBACKENDS", "LOG_PROCESSORS", "INFERENCERS", "FUNCTIONS", "MODEL_WRAPPERS",
)


def test_every_mmengine_registry_exists():
    import kiln.registry

    roots = [getattr(kiln.registry, name) for name in MMENGINE_REGISTRIES]
    assert all(isinstance(r, Registry) and r.scope == "kiln" and r.parent is None for r in roots)
    assert len({r.name for r in roots}) == len(roots)


def test_registries_and_config_names_at_the_top_level():
    import kiln
    import kiln.registry

    for name in MMENGINE_REGISTRIES:
        assert getattr(kiln, name) is getattr(kiln.registry, name)  # `from mmengine import MODELS`
    from kiln import Config, DefaultScope, DictAction, init_default_scope, read_base  # noqa: F401
