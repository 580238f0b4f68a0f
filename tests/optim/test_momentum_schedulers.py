"""Momentum schedulers: the lr schedules applied to ``momentum`` (SGD) or ``betas[0]`` (Adam)."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.optim import (
    ConstantLR,
    ConstantMomentum,
    CosineAnnealingLR,
    CosineAnnealingMomentum,
    ExponentialLR,
    ExponentialMomentum,
    LinearLR,
    LinearMomentum,
    MultiStepLR,
    MultiStepMomentum,
    OptimWrapper,
    PolyLR,
    PolyMomentum,
    StepLR,
    StepMomentum,
)

PAIRS = [
    (ConstantMomentum, ConstantLR, dict(factor=0.5, end=4)),
    (LinearMomentum, LinearLR, dict(start_factor=0.5, end=6)),
    (StepMomentum, StepLR, dict(step_size=2, gamma=0.8)),
    (MultiStepMomentum, MultiStepLR, dict(milestones=[1, 4], gamma=0.9)),
    (ExponentialMomentum, ExponentialLR, dict(gamma=0.95)),
    (CosineAnnealingMomentum, CosineAnnealingLR, dict(T_max=5, eta_min=0.5)),
    (PolyMomentum, PolyLR, dict(power=0.5, eta_min=0.3, end=8)),
]


def _param():
    return torch.nn.Parameter(torch.zeros(2))


def _sequence(optimizer, scheduler, key, n=10):
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0][key])
        scheduler.step()
    return out


@pytest.mark.parametrize("momentum_cls, lr_cls, kwargs", PAIRS)
def test_momentum_follows_the_same_curve_as_lr(momentum_cls, lr_cls, kwargs):
    sgd = torch.optim.SGD([_param()], lr=0.01, momentum=0.9)
    momentum = _sequence(sgd, momentum_cls(sgd, **kwargs), "momentum")
    ref = torch.optim.SGD([_param()], lr=0.9)
    assert momentum == pytest.approx(_sequence(ref, lr_cls(ref, **kwargs), "lr"))
    assert sgd.param_groups[0]["lr"] == 0.01  # lr untouched
    assert len(set(momentum)) > 1


def test_adam_betas_first_coefficient_is_scheduled():
    adam = torch.optim.Adam([_param()], lr=0.01, betas=(0.9, 0.99))
    scheduler = LinearMomentum(adam, start_factor=0.5, end=3)
    assert adam.param_groups[0]["betas"] == (0.45, 0.99)
    scheduler.step()
    scheduler.step()
    assert adam.param_groups[0]["betas"] == pytest.approx((0.9, 0.99))
    assert OptimWrapper(adam).get_momentum() == {"momentum": [pytest.approx(0.9)]}


def test_optimizer_without_momentum_is_a_config_error():
    with pytest.raises(ConfigError, match="StepMomentum needs an optimizer with 'momentum'"):
        StepMomentum(torch.optim.Adagrad([_param()]), step_size=1)
