"""ReduceOnPlateau: against torch's ReduceLROnPlateau on a noisy metric sequence, and its config errors."""

import random

import pytest
import torch
from torch.optim import lr_scheduler as torch_sched

from kiln.errors import ConfigError
from kiln.optim import ReduceOnPlateauLR, ReduceOnPlateauMomentum, build_param_schedulers


def _optimizer():
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5}], lr=0.1, momentum=0.9)


def _metrics(n, increasing):
    rng = random.Random(3)
    base = [(-1 if increasing else 1) * (1.0 / (1 + 0.1 * i)) + rng.uniform(-0.05, 0.05) for i in range(n)]
    return [round(v, 3) for v in base]


@pytest.mark.parametrize("rule, mode, threshold_rule, threshold", [
    ("less", "min", "rel", 1e-2), ("less", "min", "abs", 0.02), ("greater", "max", "rel", 1e-3),
    ("greater", "max", "abs", 0.01),
])
def test_matches_torch(rule, mode, threshold_rule, threshold):
    values = _metrics(60, increasing=(rule == "less"))  # a metric that mostly gets worse: plateaus happen
    ours_opt, torch_opt = _optimizer(), _optimizer()
    ours = ReduceOnPlateauLR(ours_opt, monitor="acc", rule=rule, factor=0.5, patience=3, threshold=threshold,
                             threshold_rule=threshold_rule, cooldown=2, min_value=[0.001, 0.01])
    theirs = torch_sched.ReduceLROnPlateau(torch_opt, mode=mode, factor=0.5, patience=3, threshold=threshold,
                                           threshold_mode=threshold_rule, cooldown=2, min_lr=[0.001, 0.01])
    got, expected = [], []
    for v in values:
        ours.step()  # the end of a training epoch only counts
        ours.step(dict(acc=v, other=0))
        theirs.step(v)
        got.append([g["lr"] for g in ours_opt.param_groups])
        expected.append([g["lr"] for g in torch_opt.param_groups])
    for g, e in zip(got, expected):
        assert g == pytest.approx(e)
    assert len({tuple(v) for v in got}) > 2  # several reductions happened
    assert got[-1][0] >= 0.001


def test_construction_does_not_change_the_value_and_window_applies():
    optimizer = _optimizer()
    scheduler = ReduceOnPlateauLR(optimizer, monitor="loss", patience=0, begin=2)
    assert scheduler.get_last_value() == [0.1, 0.5]
    scheduler.step(dict(loss=1.0))
    scheduler.step(dict(loss=2.0))  # before begin: ignored
    assert optimizer.param_groups[0]["lr"] == 0.1
    scheduler.step()
    scheduler.step()  # global step 2: inside the window
    scheduler.step(dict(loss=1.0))
    scheduler.step(dict(loss=1.0))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_momentum_variant_and_hook_contract():
    optimizer = _optimizer()
    [scheduler] = build_param_schedulers(dict(type="ReduceOnPlateauMomentum", monitor="loss", patience=0,
                                              factor=0.5), optimizer, max_epochs=5)
    assert isinstance(scheduler, ReduceOnPlateauMomentum) and scheduler.need_val_args and scheduler.by_epoch
    scheduler.step(dict(loss=1.0))
    scheduler.step(dict(loss=1.0))
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.45)


def test_missing_metric_and_bad_arguments():
    scheduler = ReduceOnPlateauLR(_optimizer(), monitor="accuracy")
    with pytest.raises(KeyError, match="monitors 'accuracy'"):
        scheduler.step(dict(loss=1.0))
    for kwargs, path in [(dict(rule="min"), "rule"), (dict(threshold_rule="x"), "threshold_rule"),
                         (dict(factor=1.0), "factor"), (dict(min_value=[0.0]), "min_value")]:
        with pytest.raises(ConfigError, match=rf"^param_scheduler\[0\].{path}"):
            build_param_schedulers(dict(type="ReduceOnPlateauLR", **kwargs), _optimizer())
