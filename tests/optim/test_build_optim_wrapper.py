"""build_optim_wrapper: the seeds' config forms, wrapper types, constructors, and config errors."""

import pytest
import torch
from torch.optim import SGD

from kiln.errors import ConfigError
from kiln.optim import (
    AmpOptimWrapper,
    DefaultOptimWrapperConstructor,
    OptimWrapper,
    build_optim_wrapper,
)
from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS


def test_seed_form_with_name(tiny_net):
    wrapper = build_optim_wrapper(tiny_net, dict(optimizer=dict(type="SGD", lr=1e-3)))
    assert type(wrapper) is OptimWrapper
    assert isinstance(wrapper.optimizer, SGD)
    assert wrapper.get_lr() == {"lr": [1e-3]}
    assert [p for g in wrapper.optimizer.param_groups for p in g["params"]] == list(tiny_net.parameters())


def test_seed_form_with_class(tiny_net):
    wrapper = build_optim_wrapper(tiny_net, dict(optimizer=dict(type=SGD, lr=0.001, momentum=0.9)))
    assert wrapper.get_momentum() == {"momentum": [0.9]}


def test_wrapper_type_and_arguments(tiny_net):
    wrapper = build_optim_wrapper(tiny_net, dict(type="AmpOptimWrapper", dtype="bfloat16",
                                                 optimizer=dict(type="AdamW", lr=1e-3),
                                                 accumulative_counts=4, clip_grad=dict(max_norm=1.0)))
    assert isinstance(wrapper, AmpOptimWrapper) and wrapper.cast_dtype == torch.bfloat16
    assert wrapper.accumulative_counts == 4
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)


def test_instance_is_returned_as_is(tiny_net):
    wrapper = OptimWrapper(SGD(tiny_net.parameters(), lr=0.1))
    assert build_optim_wrapper(tiny_net, wrapper) is wrapper


def test_prebuilt_optimizer_in_config(tiny_net):
    optimizer = SGD(tiny_net.parameters(), lr=0.3)
    assert build_optim_wrapper(tiny_net, dict(optimizer=optimizer)).optimizer is optimizer


def test_every_torch_optimizer_is_registered():
    expected = {name for name in dir(torch.optim)
                if isinstance(getattr(torch.optim, name), type)
                and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
                and name != "Optimizer"}
    assert {"SGD", "Adam", "AdamW", "RMSprop", "LBFGS"} <= expected
    for name in expected:
        assert OPTIMIZERS.get(name) is getattr(torch.optim, name)


def test_custom_constructor(tiny_net):
    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
    class HalfLrConstructor(DefaultOptimWrapperConstructor):
        def __call__(self, model):
            wrapper = super().__call__(model)
            for group in wrapper.param_groups:
                group["lr"] /= 2
            return wrapper

    wrapper = build_optim_wrapper(tiny_net, dict(constructor="HalfLrConstructor", optimizer=dict(type="SGD", lr=0.2)))
    assert wrapper.get_lr() == {"lr": [0.1]}


@pytest.mark.parametrize("cfg, message", [
    (dict(optimizer=dict(type="SDG", lr=0.1)), r"^optim_wrapper.optimizer.type: 'SDG' is not registered .*did you mean 'SGD'"),
    (dict(optimizer=dict(lr=0.1)), r"^optim_wrapper.optimizer: missing the key 'type'"),
    (dict(optimizer=dict(type="SGD", lr=0.1, momentun=0.9)), r"^optim_wrapper.optimizer: SGD got unexpected .*'momentun' \(did you mean 'momentum'\?\)"),
    (dict(optimizer=dict(type="SGD", lr=-1.0)), r"^optim_wrapper.optimizer: SGD rejected its arguments: Invalid learning rate"),
    (dict(optimizer="SGD"), r"^optim_wrapper.optimizer: expected a dict"),
    (dict(lr=0.1), r"^optim_wrapper: missing the key 'optimizer'"),
    (dict(type="Wrapper", optimizer=dict(type="SGD", lr=0.1)), r"^optim_wrapper.type: 'Wrapper' is not registered"),
    (dict(optimizer=dict(type="SGD", lr=0.1), accumulative_count=2), r"^optim_wrapper: OptimWrapper got unexpected .*'accumulative_count'"),
    (dict(type="AmpOptimWrapper", optimizer=dict(type="SGD", lr=0.1), dtype="half"), r"^optim_wrapper.dtype"),
    (dict(optimizer=dict(type="SGD", lr=0.1), constructor="Nope"), r"^optim_wrapper.constructor: 'Nope' is not registered"),
    ([dict(type="SGD")], r"^optim_wrapper: expected a dict"),
])
def test_config_errors_name_the_path(tiny_net, cfg, message):
    with pytest.raises(ConfigError, match=message):
        build_optim_wrapper(tiny_net, cfg)
