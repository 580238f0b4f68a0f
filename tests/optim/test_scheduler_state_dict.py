"""Scheduler state: plain python types only, and resuming continues the exact sequence."""

import io

import pytest
import torch

from kiln.optim import (
    CosineAnnealingLR,
    LinearLR,
    LinearMomentum,
    MultiStepLR,
    OneCycleLR,
    OptimWrapper,
    build_param_schedulers,
)

CONFIGS = [
    [dict(type="LinearLR", start_factor=0.1, end=4, by_epoch=False),
     dict(type="MultiStepLR", milestones=[5, 8], by_epoch=False)],
    [dict(type="CosineAnnealingLR", T_max=6, eta_min=1e-4, by_epoch=False)],
    [dict(type="OneCycleLR", eta_max=0.5, total_steps=12, by_epoch=False)],
    [dict(type="PolyLR", power=2.0, end=12, by_epoch=False),
     dict(type="LinearMomentum", start_factor=0.5, end=6, by_epoch=False)],
]


def _make():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 0.2}],
                                lr=0.1, momentum=0.9)
    return OptimWrapper(optimizer)


def _record(wrapper, schedulers, n):
    out = []
    for _ in range(n):
        for s in schedulers:
            s.step()
        out.append((wrapper.get_lr(), wrapper.get_momentum()))
    return out


def _plain(value):
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_resume_continues_the_same_sequence(cfg):
    wrapper = _make()
    schedulers = build_param_schedulers(cfg, wrapper)
    uninterrupted = _record(wrapper, schedulers, 11)

    wrapper = _make()
    schedulers = build_param_schedulers(cfg, wrapper)
    first = _record(wrapper, schedulers, 5)
    buffer = io.BytesIO()
    torch.save({"optimizer": wrapper.state_dict(), "schedulers": [s.state_dict() for s in schedulers]}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # plain types only

    resumed = _make()
    new_schedulers = build_param_schedulers(cfg, resumed)  # constructing steps once, as a runner would
    for s, state in zip(new_schedulers, checkpoint["schedulers"]):
        s.load_state_dict(state)
    resumed.load_state_dict(checkpoint["optimizer"])
    rest = _record(resumed, new_schedulers, 6)
    assert first + rest == uninterrupted


@pytest.mark.parametrize("make", [
    lambda o: LinearLR(o, end=3), lambda o: MultiStepLR(o, milestones=[1, 1, 3]),
    lambda o: CosineAnnealingLR(o, T_max=3), lambda o: OneCycleLR(o, eta_max=1.0, total_steps=5),
    lambda o: LinearMomentum(o, end=3),
])
def test_state_dict_holds_plain_types_and_no_optimizer(make):
    state = make(_make()).state_dict()
    assert "optimizer" not in state
    assert _plain(state), state
    assert {"last_step", "begin", "end", "by_epoch", "base_values"} <= set(state)
