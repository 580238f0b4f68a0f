"""No keyword vanishes into ``**kwargs``: every kiln class taking them rejects a typo, naming it."""

import ast
import importlib
import pathlib

import pytest

import kiln
from kiln.errors import ConfigError
from kiln.registry import MODEL_WRAPPERS, check_arguments


def _classes_with_var_kwargs():
    root = pathlib.Path(kiln.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__" and item.args.kwarg:
                        found.add(f"{module}.{node.name}")
    return found


def _direct(factory):
    def check():
        with pytest.raises(ConfigError) as info:
            factory()
        return str(info.value)
    return check


def _via_check_arguments(dotted, kwargs):
    def check():
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        with pytest.raises(ConfigError) as info:
            check_arguments(cls, kwargs, "model_wrapper_cfg")
        return str(info.value)
    return check


def _checkpoint_hook():
    from kiln.hooks.checkpoint_hook import CheckpointHook

    return CheckpointHook(intervall=1)


def _ema_hook():
    from kiln.hooks.ema_hook import EMAHook

    return EMAHook(momentun=0.01)


CHECKS = {
    "kiln.hooks.checkpoint_hook.CheckpointHook": (_direct(_checkpoint_hook), "'intervall' (did you mean 'interval'?)"),
    "kiln.hooks.ema_hook.EMAHook": (_direct(_ema_hook), "'momentun' (did you mean 'momentum'?)"),
    "kiln.model.wrappers.distributed.MMDistributedDataParallel": (
        _via_check_arguments("kiln.model.wrappers.distributed.MMDistributedDataParallel",
                             dict(module=None, find_unused_parameter=True)),
        "'find_unused_parameter' (did you mean 'find_unused_parameters'?)"),
    "kiln.model.wrappers.distributed.MMSeparateDistributedDataParallel": (
        _via_check_arguments("kiln.model.wrappers.distributed.MMSeparateDistributedDataParallel",
                             dict(module=None, broadcast_buffer=True)),
        "'broadcast_buffer' (did you mean 'broadcast_buffers'?)"),
    "kiln.model.wrappers.fully_sharded.MMFullyShardedDataParallel": (
        _via_check_arguments("kiln.model.wrappers.fully_sharded.MMFullyShardedDataParallel",
                             dict(module=None, sync_module_state=True)),
        "'sync_module_state' (did you mean 'sync_module_states'?)"),
}
# Their **kwargs are content, by design (config keys, data fields, named wrappers): all kept.
BY_DESIGN = {"kiln.config.config.Config", "kiln.structures.base_data_element.BaseDataElement",
             "kiln.optim.optim_wrapper_dict.OptimWrapperDict"}  # name -> optim wrapper


def test_every_var_kwargs_class_is_covered():
    assert _classes_with_var_kwargs() - BY_DESIGN == set(CHECKS)


@pytest.mark.parametrize("dotted", sorted(CHECKS))
def test_unknown_keyword_is_an_error_naming_it(dotted):
    check, expected = CHECKS[dotted]
    assert expected in check()


def test_built_from_a_config_the_path_is_named():
    from kiln.registry import HOOKS

    with pytest.raises(ConfigError) as info:
        HOOKS.build(dict(type="CheckpointHook", intervall=1))
    assert str(info.value).startswith("default_hooks.checkpoint: CheckpointHook got unexpected "
                                      "argument(s) 'intervall' (did you mean 'interval'?)")
    assert MODEL_WRAPPERS.get("MMDistributedDataParallel").__kwargs_forwarded_to__ is not None
