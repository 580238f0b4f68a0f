"""Every public name of the logging/visualization/hooks/TTA/ManagerMixin surface imports from kiln
and, through the alias, from the mmengine package MMEngine users write (same objects)."""

import importlib

import pytest

NAMES = {
    "logging": ["MMLogger", "MessageHub", "HistoryBuffer", "print_log"],
    "visualization": ["Visualizer", "LocalVisBackend", "TensorboardVisBackend", "WandbVisBackend",
                      "MLflowVisBackend"],
    "hooks": ["EarlyStoppingHook", "ProfilerHook", "EmptyCacheHook", "SyncBuffersHook",
              "NaiveVisualizationHook", "PrepareTTAHook"],
    "model": ["BaseTTAModel"],
    "utils": ["ManagerMixin"],
}


@pytest.fixture
def alias():
    from kiln.compat import disable_mmengine_alias, enable_mmengine_alias

    enable_mmengine_alias()
    yield
    disable_mmengine_alias()


@pytest.mark.parametrize("package", sorted(NAMES))
def test_names_import_from_kiln_and_mmengine(alias, package):
    kiln_pkg = importlib.import_module(f"kiln.{package}")
    mm_pkg = importlib.import_module(f"mmengine.{package}")
    for name in NAMES[package]:
        assert getattr(mm_pkg, name) is getattr(kiln_pkg, name), name
        assert name in dir(kiln_pkg)


def test_registered_by_name():
    from kiln.registry import HOOKS, MODELS, VISBACKENDS

    for name in NAMES["hooks"]:
        assert HOOKS.get(name) is not None, name
    assert MODELS.get("BaseTTAModel") is not None
    for name in ("WandbVisBackend", "MLflowVisBackend"):
        assert VISBACKENDS.get(name) is not None, name
