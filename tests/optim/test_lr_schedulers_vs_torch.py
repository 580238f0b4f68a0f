"""Every lr scheduler against torch.optim.lr_scheduler's own values, step by step."""

import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as torch_sched

from kiln.optim import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    OptimWrapper,
    PolyLR,
    StepLR,
)


def _optimizer():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)


def _values(make, n):
    optimizer = _optimizer()
    scheduler = make(optimizer)
    values = [[g["lr"] for g in optimizer.param_groups]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n - 1):
            optimizer.step()
            scheduler.step()
            values.append([g["lr"] for g in optimizer.param_groups])
    return values


CASES = {
    "linear": (lambda o: LinearLR(o, start_factor=0.1, end=10),
               lambda o: torch_sched.LinearLR(o, start_factor=0.1, total_iters=9), 30),
    "linear-down": (lambda o: LinearLR(o, start_factor=1.0, end_factor=0.2, end=7),
                    lambda o: torch_sched.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=6), 20),
    "constant": (lambda o: ConstantLR(o, factor=0.25, end=6),
                 lambda o: torch_sched.ConstantLR(o, factor=0.25, total_iters=5), 20),
    "step": (lambda o: StepLR(o, step_size=3, gamma=0.5),
             lambda o: torch_sched.StepLR(o, step_size=3, gamma=0.5), 40),
    "multistep": (lambda o: MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
                  lambda o: torch_sched.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 40),
    "exponential": (lambda o: ExponentialLR(o, gamma=0.9),
                    lambda o: torch_sched.ExponentialLR(o, gamma=0.9), 40),
    "cosine-restarts": (lambda o: CosineAnnealingLR(o, T_max=8, eta_min=0.01),
                        lambda o: torch_sched.CosineAnnealingLR(o, T_max=8, eta_min=0.01), 40),
    "cosine-from-end": (lambda o: CosineAnnealingLR(o, end=12),
                        lambda o: torch_sched.CosineAnnealingLR(o, T_max=12), 12),
    "poly": (lambda o: PolyLR(o, power=2.0, end=11),
             lambda o: torch_sched.PolynomialLR(o, total_iters=10, power=2.0), 30),
    "onecycle": (lambda o: OneCycleLR(o, eta_max=[1.0, 2.0], total_steps=30),
                 lambda o: torch_sched.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=30, cycle_momentum=False), 30),
    "onecycle-3-phase-linear": (
        lambda o: OneCycleLR(o, eta_max=1.0, end=25, pct_start=0.4, anneal_strategy="linear", three_phase=True,
                             div_factor=10, final_div_factor=100),
        lambda o: torch_sched.OneCycleLR(o, max_lr=1.0, total_steps=25, pct_start=0.4, anneal_strategy="linear",
                                         three_phase=True, div_factor=10, final_div_factor=100,
                                         cycle_momentum=False), 25),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    ours, theirs, n = CASES[name]
    got, expected = _values(ours, n), _values(theirs, n)
    assert len(got) == n
    for step, (g, e) in enumerate(zip(got, expected)):
        assert g == pytest.approx(e, rel=1e-6, abs=1e-12), f"step {step}"
    assert len({tuple(v) for v in got}) > 1  # the schedule actually moved


def test_after_end_the_value_stays():
    values = _values(lambda o: CosineAnnealingLR(o, end=12, eta_min=0.001), 20)
    assert all(v == values[11] for v in values[11:])
    assert values[11][0] == pytest.approx(0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 11 / 12)) / 2)


def test_eta_min_ratio_is_per_group():
    values = _values(lambda o: CosineAnnealingLR(o, T_max=5, eta_min_ratio=0.1), 6)
    assert values[5] == pytest.approx([0.01, 0.05])


def test_acts_on_an_optim_wrapper_including_its_base_group():
    optimizer = _optimizer()
    wrapper = OptimWrapper(optimizer)
    scheduler = StepLR(wrapper, step_size=1, gamma=0.5)
    scheduler.step()
    assert wrapper.get_lr() == {"base_lr": [0.05], "lr": [0.05, 0.25]}
    assert scheduler.get_last_value() == [0.05, 0.25, 0.05]


def test_onecycle_past_total_steps_raises():
    optimizer = _optimizer()
    scheduler = OneCycleLR(optimizer, eta_max=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="more than total_steps=3"):
        scheduler.step()
