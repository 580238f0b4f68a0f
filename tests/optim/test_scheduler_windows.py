"""begin/end windows, composition of several schedulers, and by-epoch → by-iteration conversion."""

import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as torch_sched

from kiln.optim import CosineAnnealingLR, LinearLR, MultiStepLR, StepLR


def _optimizer(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def _run(optimizer, schedulers, n, every=None):
    """lr before each of ``n`` iterations; ``every`` maps a scheduler to its stepping period."""
    values = []
    for it in range(n):
        values.append(optimizer.param_groups[0]["lr"])
        for s in schedulers:
            period = (every or {}).get(s, 1)
            if (it + 1) % period == 0:
                s.step()
    return values


def _torch_values(make, n):
    optimizer = _optimizer()
    scheduler = make(optimizer)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return out


def test_nothing_changes_before_begin_and_after_end():
    optimizer = _optimizer()
    values = _run(optimizer, [StepLR(optimizer, step_size=2, gamma=0.5, begin=3, end=9)], 15)
    assert values[:3] == [0.1] * 3  # before begin (the window starts counting at begin)
    torch_part = _torch_values(lambda o: torch_sched.StepLR(o, step_size=2, gamma=0.5), 6)
    assert values[3:9] == pytest.approx(torch_part)
    assert values[9:] == [values[8]] * 6


def test_cosine_starting_late_follows_torch_from_its_begin():
    optimizer = _optimizer()
    values = _run(optimizer, [CosineAnnealingLR(optimizer, begin=5, end=15, eta_min=0.0)], 15)
    assert values[:5] == [0.1] * 5
    assert values[5:] == pytest.approx(_torch_values(lambda o: torch_sched.CosineAnnealingLR(o, T_max=10), 10))


def test_warmup_then_decay_composes_like_torch_chained_schedulers():
    optimizer = _optimizer()
    ours = [LinearLR(optimizer, start_factor=0.01, end=5, by_epoch=False),
            MultiStepLR(optimizer, milestones=[3, 7], gamma=0.1, by_epoch=False)]
    values = _run(optimizer, ours, 12)
    reference = _optimizer()
    theirs = [torch_sched.LinearLR(reference, start_factor=0.01, total_iters=4),
              torch_sched.MultiStepLR(reference, milestones=[3, 7], gamma=0.1)]
    expected = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(12):
            expected.append(reference.param_groups[0]["lr"])
            reference.step()
            for s in theirs:
                s.step()
    assert values == pytest.approx(expected)


def test_iter_warmup_with_epoch_decay():
    """The usual config: a 6-iteration warm-up stepped per iteration, a decay stepped per epoch (4 its)."""
    optimizer = _optimizer()
    warmup = LinearLR(optimizer, start_factor=0.25, end=6, by_epoch=False)
    decay = MultiStepLR(optimizer, milestones=[2], gamma=0.1)
    values = _run(optimizer, [warmup, decay], 16, every={decay: 4})
    assert values[0] == pytest.approx(0.025)
    assert values[5] == pytest.approx(0.1)  # warm-up done at its last step
    assert values[6:8] == pytest.approx([0.1, 0.1])
    assert values[8:] == pytest.approx([0.01] * 8)  # epoch 2 starts at iteration 8


@pytest.mark.parametrize("cls, kwargs", [
    (MultiStepLR, dict(milestones=[1, 3], gamma=0.5)),
    (StepLR, dict(step_size=2, gamma=0.5)),
    (CosineAnnealingLR, dict(T_max=4, eta_min=0.01)),
    (CosineAnnealingLR, dict(end=6)),
])
def test_converted_to_iterations_agrees_at_epoch_boundaries(cls, kwargs):
    epoch_length = 5
    by_epoch_opt, by_iter_opt = _optimizer(), _optimizer()
    by_epoch = cls(by_epoch_opt, **kwargs)
    by_iter = cls.build_iter_from_epoch(by_iter_opt, epoch_length=epoch_length, **kwargs)
    assert by_epoch.by_epoch and not by_iter.by_epoch
    epoch_values = _run(by_epoch_opt, [by_epoch], 6)
    iter_values = _run(by_iter_opt, [by_iter], 6 * epoch_length)
    assert iter_values[::epoch_length] == pytest.approx(epoch_values)
    if cls is CosineAnnealingLR:  # a smooth schedule also moves inside an epoch
        assert len(set(iter_values[:2 * epoch_length])) == 2 * epoch_length


def test_converted_linear_warmup_scales_its_window():
    """begin/end are scaled; the ramp then spans ``end - begin - 1`` iterations (MMEngine's rule)."""
    optimizer = _optimizer()
    scheduler = LinearLR.build_iter_from_epoch(optimizer, start_factor=0.2, begin=1, end=4, epoch_length=5)
    assert (scheduler.begin, scheduler.end, scheduler.total_iters, scheduler.by_epoch) == (5, 20, 14, False)
    values = _run(optimizer, [scheduler], 25)
    assert values[:5] == [0.1] * 5
    assert values[5] == pytest.approx(0.02)
    assert values[5:20] == pytest.approx([0.1 * (0.2 + 0.8 * k / 14) for k in range(15)])
    assert values[20:] == pytest.approx([0.1] * 5)


def test_converted_cosine_is_the_smooth_curve():
    optimizer = _optimizer()
    scheduler = CosineAnnealingLR.build_iter_from_epoch(optimizer, begin=0, end=2, epoch_length=10)
    assert (scheduler.begin, scheduler.end, scheduler.T_max) == (0, 20, 20)
    values = _run(optimizer, [scheduler], 20)
    assert values == pytest.approx([0.1 * (1 + math.cos(math.pi * i / 20)) / 2 for i in range(20)])
