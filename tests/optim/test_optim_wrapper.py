"""OptimWrapper basics: update order, views on the optimizer, state, repr, errors."""

import contextlib

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim import OptimWrapper


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def test_update_params_steps_and_clears_grads(tiny_net, batch):
    x, y = batch
    reference = {k: v.clone() for k, v in tiny_net.state_dict().items()}
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1))
    wrapper.update_params(_loss(tiny_net, x, y))
    # the update equals a hand-written SGD step
    ref_net = type(tiny_net)()
    ref_net.load_state_dict(reference)
    _loss(ref_net, x, y).backward()
    with torch.no_grad():
        for p in ref_net.parameters():
            p -= 0.1 * p.grad
    for p, q in zip(tiny_net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p, q)
        assert p.grad is None  # zero_grad(set_to_none=True)


def test_step_and_zero_kwargs_are_forwarded(tiny_net, batch):
    calls = {}

    class Recording(torch.optim.SGD):
        def step(self, closure=None, **kwargs):
            calls["step"] = kwargs
            return super().step(closure)

        def zero_grad(self, set_to_none=True, **kwargs):
            calls["zero"] = set_to_none
            super().zero_grad(set_to_none)

    wrapper = OptimWrapper(Recording(tiny_net.parameters(), lr=0.1))
    wrapper.update_params(_loss(tiny_net, *batch), step_kwargs={}, zero_kwargs=dict(set_to_none=False))
    assert calls == {"step": {}, "zero": False}
    assert all(p.grad is not None and not p.grad.any() for p in tiny_net.parameters())


def test_get_lr_and_momentum_for_sgd_adam_and_adagrad(tiny_net):
    assert OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.5, momentum=0.8)).get_lr() == {"lr": [0.5]}
    assert OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.5, momentum=0.8)).get_momentum() == \
        {"momentum": [0.8]}
    assert OptimWrapper(torch.optim.Adam(tiny_net.parameters(), betas=(0.7, 0.9))).get_momentum() == \
        {"momentum": [0.7]}
    assert OptimWrapper(torch.optim.Adagrad(tiny_net.parameters())).get_momentum() == {"momentum": [0]}


def test_several_groups_add_a_base_group(tiny_net):
    optimizer = torch.optim.SGD([{"params": tiny_net.fc1.parameters(), "lr": 0.01},
                                 {"params": tiny_net.fc2.parameters()}], lr=0.1)
    wrapper = OptimWrapper(optimizer)
    assert len(wrapper.param_groups) == 3 and len(optimizer.param_groups) == 2
    assert wrapper.get_lr() == {"base_lr": [0.1], "lr": [0.01, 0.1]}
    wrapper.param_groups[-1]["lr"] = 0.05  # what a scheduler does
    state = wrapper.state_dict()
    assert state["base_param_settings"]["lr"] == 0.05
    fresh = OptimWrapper(torch.optim.SGD([{"params": tiny_net.fc1.parameters(), "lr": 0.01},
                                          {"params": tiny_net.fc2.parameters()}], lr=0.1))
    fresh.load_state_dict(state)
    assert fresh.get_lr()["base_lr"] == [0.05]


def test_single_group_has_no_base_group(tiny_net):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1))
    assert wrapper.param_groups is wrapper.optimizer.param_groups
    assert "base_param_settings" not in wrapper.state_dict()


def test_state_dict_round_trip_restores_momentum_buffers(tiny_net, batch):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1, momentum=0.9))
    wrapper.update_params(_loss(tiny_net, *batch))
    wrapper.param_groups[0]["lr"] = 0.02
    state = wrapper.state_dict()
    other = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1, momentum=0.9))
    other.load_state_dict(state)
    assert other.get_lr() == {"lr": [0.02]}
    for p in tiny_net.parameters():
        torch.testing.assert_close(other.optimizer.state[p]["momentum_buffer"],
                                   wrapper.optimizer.state[p]["momentum_buffer"])


def test_views_and_repr(tiny_net):
    optimizer = torch.optim.SGD(tiny_net.parameters(), lr=0.1)
    wrapper = OptimWrapper(optimizer, accumulative_counts=3)
    assert wrapper.defaults is optimizer.defaults
    assert wrapper.optimizer is optimizer
    text = repr(wrapper)
    assert text.startswith("Type: OptimWrapper\n_accumulative_counts: 3\noptimizer: \nSGD (")


def test_optim_context_enters_no_sync_only_on_accumulation_steps(tiny_net, batch):
    class FakeDDP(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module
            self.no_sync_entered = 0

        @contextlib.contextmanager
        def no_sync(self):
            self.no_sync_entered += 1
            yield

        def forward(self, x):
            return self.module(x)

    model = FakeDDP(tiny_net)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=3)
    entered = []
    for _ in range(6):
        before = model.no_sync_entered
        with wrapper.optim_context(model):
            loss = _loss(model, *batch)
        wrapper.update_params(loss)
        entered.append(model.no_sync_entered - before)
    assert entered == [1, 1, 0, 1, 1, 0]


def test_should_update_and_should_sync_follow_the_window(tiny_net, batch):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), accumulative_counts=2)
    wrapper.initialize_count_status(tiny_net, 0, 3)
    updates, syncs = [], []
    for _ in range(3):
        syncs.append(wrapper.should_sync())
        wrapper.backward(_loss(tiny_net, *batch))
        updates.append(wrapper.should_update())
    assert syncs == [False, True, True]  # the last, one-call window syncs too
    assert updates == [False, True, True]


@pytest.mark.parametrize("counts", [0, -1, 1.5, True, "2"])
def test_bad_accumulative_counts(tiny_net, counts):
    with pytest.raises(ConfigError, match="optim_wrapper.accumulative_counts"):
        OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), accumulative_counts=counts)


def test_not_an_optimizer():
    with pytest.raises(ConfigError, match="optim_wrapper.optimizer: expected a torch.optim.Optimizer"):
        OptimWrapper(dict(type="SGD"))
