"""Gradient clipping by norm (with the norm kept as a tensor for logging) and by value."""

import copy

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim import OptimWrapper


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x), y) * 100  # large gradients, so clipping bites


def test_clip_by_norm_matches_torch_and_records_norm(tiny_net, batch):
    reference = copy.deepcopy(tiny_net)
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), clip_grad=dict(max_norm=1.0))
    wrapper.update_params(_loss(tiny_net, *batch))

    _loss(reference, *batch).backward()
    expected_norm = nn.utils.clip_grad_norm_(reference.parameters(), max_norm=1.0)
    torch.optim.SGD(reference.parameters(), lr=0.1).step()

    assert isinstance(wrapper.grad_norm, torch.Tensor) and wrapper.grad_norm.ndim == 0
    assert not wrapper.grad_norm.requires_grad
    torch.testing.assert_close(wrapper.grad_norm, expected_norm)
    assert expected_norm > 1.0
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_clip_by_norm_with_other_norm_type(tiny_net, batch):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.0),
                           clip_grad=dict(max_norm=1e9, norm_type=1))
    loss = _loss(tiny_net, *batch)
    grads = torch.autograd.grad(loss, list(tiny_net.parameters()), retain_graph=True)
    wrapper.update_params(loss)
    torch.testing.assert_close(wrapper.grad_norm, sum(g.abs().sum() for g in grads))


def test_clip_by_value(tiny_net, batch):
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.extend(p.grad.clone() for p in tiny_net.parameters())
            return super().step(closure)

    wrapper = OptimWrapper(Spy(tiny_net.parameters(), lr=0.1), clip_grad=dict(type="value", clip_value=0.01))
    wrapper.update_params(_loss(tiny_net, *batch))
    assert max(g.abs().max() for g in seen) <= 0.01
    assert any((g.abs() == 0.01).any() for g in seen)  # something was actually clipped
    assert wrapper.grad_norm is None


def test_no_clip_leaves_grad_norm_unset(tiny_net, batch):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1))
    wrapper.update_params(_loss(tiny_net, *batch))
    assert wrapper.grad_norm is None


@pytest.mark.parametrize("clip_grad, message", [
    ({}, "non-empty dict"),
    (1.0, "non-empty dict"),
    (dict(type="agc", max_norm=1), r"optim_wrapper.clip_grad.type: expected 'norm' or 'value'"),
    (dict(norm_type=2), r"needs \['max_norm'\]"),
    (dict(type="value"), r"needs \['clip_value'\]"),
    (dict(max_norm=1, clip_value=2), r"unexpected key\(s\) \['clip_value'\]"),
])
def test_bad_clip_grad(tiny_net, clip_grad, message):
    with pytest.raises(ConfigError, match=message) as info:
        OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), clip_grad=clip_grad)
    assert str(info.value).startswith("optim_wrapper.clip_grad")
