"""EMA / annealing EMA / SWA against closed-form values; buffers, interval, state_dict, validation."""

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.model import (
    BaseAveragedModel,
    ExponentialMovingAverage,
    MomentumAnnealingEMA,
    StochasticWeightAverage,
)
from kiln.registry import MODELS


def _set(net, value):
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)


def _value(avg):
    return avg.module.weight.flatten()[0].item()


def test_ema_matches_closed_form():
    net, m = nn.Linear(3, 2), 0.1
    ema = ExponentialMovingAverage(net, momentum=m)
    values = [1.0, 2.0, 4.0, -3.0, 0.5]
    for v in values:
        _set(net, v)
        ema.update_parameters(net)
    # step 0 copies v0; every later step: avg = (1 - m) * avg + m * v
    n = len(values) - 1
    expected = (1 - m) ** n * values[0] + sum(m * (1 - m) ** (n - k) * values[k] for k in range(1, n + 1))
    assert _value(ema) == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(ema.module.bias, torch.full((2,), expected))
    assert ema.steps.item() == len(values)


def test_ema_interval_skips_steps():
    net = nn.Linear(1, 1)
    ema = ExponentialMovingAverage(net, momentum=0.5, interval=2)
    for v in [0.0, 8.0, 4.0, 100.0, 2.0]:  # steps 0 (copy), 2 and 4 average; 1 and 3 are skipped
        _set(net, v)
        ema.update_parameters(net)
    assert _value(ema) == pytest.approx(((0 * 0.5 + 4 * 0.5) * 0.5) + 2 * 0.5)


def test_momentum_annealing_uses_the_larger_momentum():
    net, m, gamma = nn.Linear(1, 1), 0.01, 2
    ema = MomentumAnnealingEMA(net, momentum=m, gamma=gamma)
    avg, values = None, [1.0, 3.0, -2.0, 5.0, 7.0]
    for step, v in enumerate(values):
        _set(net, v)
        ema.update_parameters(net)
        if step == 0:
            avg = v
        else:
            w = max(m, gamma / (gamma + step))
            avg = (1 - w) * avg + w * v
    assert _value(ema) == pytest.approx(avg, rel=1e-6)


def test_swa_is_the_running_mean():
    net = nn.Linear(2, 2)
    swa = StochasticWeightAverage(net, interval=1)
    values = [1.0, 2.0, 6.0, -1.0]
    for v in values:
        _set(net, v)
        swa.update_parameters(net)
    assert _value(swa) == pytest.approx(sum(values) / len(values), rel=1e-6)


def test_buffers_copied_or_averaged():
    net = nn.BatchNorm1d(2)
    ema = ExponentialMovingAverage(net, momentum=0.5)
    ema.update_parameters(net)
    net.running_mean.fill_(4.0)
    ema.update_parameters(net)
    assert torch.equal(ema.module.running_mean, net.running_mean)  # copied, not averaged

    net2 = nn.BatchNorm1d(2)
    ema2 = ExponentialMovingAverage(net2, momentum=0.5, update_buffers=True)
    ema2.update_parameters(net2)
    net2.running_mean.fill_(4.0)
    net2.num_batches_tracked.fill_(9)
    ema2.update_parameters(net2)
    assert torch.allclose(ema2.module.running_mean, torch.full((2,), 2.0))
    assert ema2.module.num_batches_tracked.item() == 0  # integer buffers are not averaged


def test_copy_is_frozen_and_forward_runs_it():
    net = nn.Linear(2, 1)
    ema = ExponentialMovingAverage(net)
    assert not any(p.requires_grad for p in ema.parameters())
    assert ema.module is not net
    x = torch.ones(1, 2)
    assert torch.equal(ema(x), net(x))


def test_state_dict_round_trip_restores_step_count():
    net = nn.Linear(1, 1)
    ema = ExponentialMovingAverage(net, momentum=0.5)
    for v in [1.0, 3.0]:
        _set(net, v)
        ema.update_parameters(net)
    restored = ExponentialMovingAverage(nn.Linear(1, 1), momentum=0.5)
    restored.load_state_dict(ema.state_dict())
    _set(net, 5.0)
    restored.update_parameters(net)  # must average (step 2), not copy (step 0)
    assert _value(restored) == pytest.approx((1 * 0.5 + 3 * 0.5) * 0.5 + 5 * 0.5)


def test_registered_and_built_from_config():
    ema = MODELS.build(dict(type="ExponentialMovingAverage", model=nn.Linear(1, 1), momentum=0.01))
    assert isinstance(ema, ExponentialMovingAverage)
    for name in ["MomentumAnnealingEMA", "StochasticWeightAverage"]:
        assert MODELS.get(name) is not None


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.1, 2])
def test_momentum_range(momentum):
    with pytest.raises(ConfigError, match="momentum"):
        ExponentialMovingAverage(nn.Linear(1, 1), momentum=momentum)


def test_large_momentum_warns(capsys):
    ExponentialMovingAverage(nn.Linear(1, 1), momentum=0.9)
    assert "The value of momentum in EMA is usually a small number" in capsys.readouterr().out


def test_bad_gamma_and_interval():
    with pytest.raises(ConfigError, match="gamma"):
        MomentumAnnealingEMA(nn.Linear(1, 1), gamma=0)
    with pytest.raises(ConfigError, match="interval"):
        StochasticWeightAverage(nn.Linear(1, 1), interval=0)


def test_subclass_avg_func_is_used():
    class Max(BaseAveragedModel):
        def avg_func(self, averaged_param, source_param, steps):
            torch.maximum(averaged_param, source_param, out=averaged_param)

    class HalfEMA(ExponentialMovingAverage):
        def avg_func(self, averaged_param, source_param, steps):
            averaged_param.copy_(source_param / 2)

    net = nn.Linear(1, 1)
    avg, half = Max(net), HalfEMA(net, momentum=0.1)
    for v in [1.0, 5.0, 2.0]:
        _set(net, v)
        avg.update_parameters(net)
        half.update_parameters(net)
    assert _value(avg) == 5.0 and _value(half) == 1.0
