"""skip_nonfinite: a NaN/inf loss skips the optimizer step and drops the window's gradients."""

import copy

import torch
from torch import nn

from kiln.optim import OptimWrapper


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def test_nonfinite_loss_skips_step_and_warns(tiny_net, batch, capsys):
    before = copy.deepcopy(tiny_net.state_dict())
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), skip_nonfinite=True)
    wrapper.update_params(_loss(tiny_net, *batch) * float("nan"))
    for key, value in tiny_net.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(p.grad is None for p in tiny_net.parameters())
    assert "Non-finite loss at iteration 1: skipped the optimizer step" in capsys.readouterr().out
    # the next finite loss steps normally
    wrapper.update_params(_loss(tiny_net, *batch))
    assert not torch.equal(tiny_net.fc1.weight, before["fc1.weight"])
    assert capsys.readouterr().out == ""


def test_nonfinite_micro_batch_poisons_only_its_window(tiny_net, batch, capsys):
    x, y = batch
    reference = copy.deepcopy(tiny_net)
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), accumulative_counts=2,
                           skip_nonfinite=True)
    wrapper.update_params(_loss(tiny_net, x[:5], y[:5]) + float("inf"))
    wrapper.update_params(_loss(tiny_net, x[5:], y[5:]))  # closes the bad window: skipped
    assert "iteration 2" in capsys.readouterr().out
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        assert torch.equal(p, q)
    wrapper.update_params(_loss(tiny_net, x[:5], y[:5]))
    wrapper.update_params(_loss(tiny_net, x[5:], y[5:]))
    _loss(reference, x, y).backward()
    torch.optim.SGD(reference.parameters(), lr=0.1).step()
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_default_does_not_check(tiny_net, batch):
    """Without skip_nonfinite a NaN loss is stepped (no hidden sync on the default path)."""
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1))
    wrapper.update_params(_loss(tiny_net, *batch) * float("nan"))
    assert torch.isnan(tiny_net.fc1.weight).all()
