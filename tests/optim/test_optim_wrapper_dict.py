"""OptimWrapperDict (MMEngine semantics), its builder routes and per-optimizer schedulers."""

import logging

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim import (
    MultiOptimWrapperConstructor,
    OptimWrapper,
    OptimWrapperDict,
    build_optim_wrapper,
    build_param_schedulers,
)
from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS


class GAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))


def _wrappers(model=None):
    model = model or GAN()
    return OptimWrapperDict(
        generator=OptimWrapper(torch.optim.SGD(model.generator.parameters(), lr=0.1, momentum=0.9)),
        discriminator=OptimWrapper(torch.optim.Adam(model.discriminator.parameters(), lr=0.01, betas=(0.5, 0.9))))


def test_mapping_interface():
    wrappers = _wrappers()
    assert list(wrappers.keys()) == ["generator", "discriminator"] and len(wrappers) == 2
    assert "generator" in wrappers and "encoder" not in wrappers
    assert isinstance(wrappers["generator"], OptimWrapper) and isinstance(wrappers, OptimWrapper)
    assert [name for name, _ in wrappers.items()] == list(wrappers) == ["generator", "discriminator"]
    assert list(wrappers.values()) == [wrappers["generator"], wrappers["discriminator"]]
    with pytest.raises(KeyError, match="'encoder' is not in this OptimWrapperDict"):
        wrappers["encoder"]


def test_lr_and_momentum_are_prefixed_by_name():
    wrappers = _wrappers()
    assert wrappers.get_lr() == {"generator.lr": [0.1], "discriminator.lr": [0.01]}
    assert wrappers.get_momentum() == {"generator.momentum": [0.9], "discriminator.momentum": [0.5]}
    assert set(wrappers.param_groups) == {"generator", "discriminator"}


def test_base_lr_of_a_multi_group_child_is_prefixed_too():
    model = GAN()
    groups = [{"params": [model.generator.weight]}, {"params": [model.generator.bias], "lr": 0.5}]
    wrappers = OptimWrapperDict(generator=OptimWrapper(torch.optim.SGD(groups, lr=0.1)))
    assert wrappers.get_lr() == {"generator.base_lr": [0.1], "generator.lr": [0.1, 0.5]}


@pytest.mark.parametrize("call", [
    lambda w: w.update_params(torch.tensor(1.0)), lambda w: w.backward(torch.tensor(1.0)),
    lambda w: w.step(), lambda w: w.optim_context(nn.Linear(1, 1)), lambda w: w.optimizer,
])
def test_what_only_each_wrapper_can_do_raises(call):
    with pytest.raises((NotImplementedError, AttributeError), match=r"optim_wrapper\['"):
        call(_wrappers())


def test_zero_grad_clears_every_optimizer():
    model = GAN()
    wrappers = _wrappers(model)
    model.discriminator(model.generator(torch.ones(1, 2))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    wrappers.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_round_trip_per_name():
    model = GAN()
    wrappers = _wrappers(model)
    for name in ("generator", "discriminator"):
        getattr(model, name)(torch.ones(1, 2)).sum().backward()
        wrappers[name].step()
    state = wrappers.state_dict()
    assert set(state) == {"generator", "discriminator"}
    fresh = _wrappers(GAN())
    fresh.load_state_dict({"discriminator": state["discriminator"]})  # absent names stay as they are
    assert fresh["discriminator"].optimizer.state_dict()["state"][0]["step"] == 1
    assert fresh["generator"].optimizer.state_dict()["state"] == {}
    with pytest.raises(KeyError, match=r"\['encoder'\] not in this OptimWrapperDict"):
        fresh.load_state_dict({"encoder": {}, "generator": state["generator"]})
    assert fresh["generator"].optimizer.state_dict()["state"] == {}  # nothing loaded on the error


def test_initialize_count_status_reaches_every_child():
    model = GAN()
    wrappers = OptimWrapperDict(g=OptimWrapper(torch.optim.SGD(model.generator.parameters(), lr=0.1),
                                               accumulative_counts=2),
                                d=OptimWrapper(torch.optim.SGD(model.discriminator.parameters(), lr=0.1)))
    wrappers.initialize_count_status(model, 4, 9)
    assert wrappers["g"].inner_count == 4 and wrappers["g"].max_counts == 9 and wrappers["d"].inner_count == 4


def test_rejects_non_wrappers():
    with pytest.raises(ConfigError, match=r"optim_wrapper\.g: expected an OptimWrapper, but got SGD"):
        OptimWrapperDict(g=torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))
    with pytest.raises(ConfigError, match="at least one"):
        OptimWrapperDict()


# -- building ---------------------------------------------------------------------------------
_GAN_CFG = dict(
    generator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=1e-3),
                       paramwise_cfg=dict(norm_decay_mult=0.0)))


@pytest.mark.parametrize("constructor", [None, "MultiOptimWrapperConstructor"])
def test_mmengine_gan_config_builds_one_wrapper_per_submodule(constructor):
    model = GAN()
    cfg = dict(_GAN_CFG, **({} if constructor is None else {"constructor": constructor}))
    wrappers = build_optim_wrapper(model, cfg)
    assert isinstance(wrappers, OptimWrapperDict)
    assert type(wrappers["generator"].optimizer).__name__ == "Adam"
    assert [p for g in wrappers["generator"].param_groups for p in g["params"]] == list(model.generator.parameters())
    # the per-entry paramwise_cfg gave the discriminator one group per parameter
    assert len(wrappers["discriminator"].optimizer.param_groups) == 4


def test_dict_of_built_wrappers_becomes_a_wrapper_dict():
    model = GAN()
    built = {"g": OptimWrapper(torch.optim.SGD(model.generator.parameters(), lr=0.1))}
    wrappers = build_optim_wrapper(model, built)
    assert isinstance(wrappers, OptimWrapperDict) and wrappers["g"] is built["g"]


@pytest.mark.parametrize("cfg, match", [
    (dict(generator=_GAN_CFG["generator"], encoder=_GAN_CFG["generator"]),
     r"optim_wrapper\.encoder: names no submodule of GAN \(it has: generator, discriminator\)"),
    (dict(generator=dict(optimizer=dict(type="Adamm", lr=1.0))), r"optim_wrapper\.generator\.optimizer\.type"),
    (dict(generator=dict(type="OptimWrapper")), r"optim_wrapper\.generator: missing the key 'optimizer'"),
])
def test_gan_config_errors_name_the_entry(cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_optim_wrapper(GAN(), cfg)


def test_no_optimizer_is_built_when_a_later_name_is_wrong(monkeypatch):
    built = []
    real = torch.optim.Adam.__init__
    monkeypatch.setattr(torch.optim.Adam, "__init__", lambda self, *a, **k: (built.append(1), real(self, *a, **k)))
    with pytest.raises(ConfigError):
        build_optim_wrapper(GAN(), dict(generator=_GAN_CFG["generator"], encoder=_GAN_CFG["generator"]))
    assert built == []


def test_constructor_registered():
    assert OPTIM_WRAPPER_CONSTRUCTORS.get("MultiOptimWrapperConstructor") is MultiOptimWrapperConstructor


# -- schedulers -------------------------------------------------------------------------------
def test_schedulers_keyed_by_optimizer_name():
    wrappers = _wrappers()
    schedulers = build_param_schedulers(
        dict(generator=[dict(type="MultiStepLR", milestones=[1])], discriminator=dict(type="ConstantLR")),
        wrappers, max_epochs=3)
    assert {k: [type(s).__name__ for s in v] for k, v in schedulers.items()} == \
        {"generator": ["MultiStepLR"], "discriminator": ["ConstantLR"]}
    schedulers["generator"][0].step()
    assert wrappers.get_lr()["generator.lr"] == [pytest.approx(0.01)]
    assert wrappers.get_lr()["discriminator.lr"] == [pytest.approx(0.01 / 3)]  # ConstantLR only on D


def test_one_scheduler_config_is_built_for_every_optimizer():
    schedulers = build_param_schedulers([dict(type="LinearLR", start_factor=0.1)], _wrappers(), max_epochs=2)
    assert set(schedulers) == {"generator", "discriminator"}
    assert schedulers["generator"][0].optimizer is not schedulers["discriminator"][0].optimizer


def test_scheduler_for_an_unknown_optimizer_is_an_error():
    with pytest.raises(ConfigError, match=r"param_scheduler\.encoder: names no optimizer"):
        build_param_schedulers(dict(encoder=[dict(type="ConstantLR")]), _wrappers(), max_epochs=2)


def test_auto_scale_lr_scales_every_optimizer():
    from kiln.runner.builders import scale_lr

    wrappers = _wrappers()
    scale_lr(wrappers, dict(enable=True, base_batch_size=4), 8, logging.getLogger("test"))
    assert wrappers.get_lr() == {"generator.lr": [0.2], "discriminator.lr": [0.02]}
