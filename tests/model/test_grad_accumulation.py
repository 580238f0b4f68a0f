"""train_step with accumulative_counts=N over N micro-batches equals one step on the big batch."""

import copy

import torch
from torch import nn

from kiln.model import BaseModel
from kiln.optim import OptimWrapper


class MLP(BaseModel):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, inputs, targets=None, mode="tensor"):
        out = self.net(inputs)
        if mode == "loss":
            return {"loss": nn.functional.mse_loss(out, targets)}
        return out if mode == "tensor" else [out]


def _grads_at_step(model, optim_wrapper, batches):
    """Run train_step on each batch; return the gradients the optimizer saw at its (single) step."""
    seen = []
    real_step = optim_wrapper.optimizer.step

    def step(*args, **kwargs):
        seen.append([p.grad.detach().clone() for p in model.parameters()])
        return real_step(*args, **kwargs)

    optim_wrapper.optimizer.step = step
    for batch in batches:
        model.train_step(batch, optim_wrapper)
    return seen


def test_accumulated_gradients_equal_the_large_batch():
    model = MLP()
    twin = copy.deepcopy(model)
    x, y = torch.randn(32, 6), torch.randn(32, 3)
    micro = [{"inputs": xb, "targets": yb} for xb, yb in zip(x.chunk(4), y.chunk(4))]

    acc = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=4)
    big = OptimWrapper(torch.optim.SGD(twin.parameters(), lr=0.1))
    acc_grads = _grads_at_step(model, acc, micro)
    big_grads = _grads_at_step(twin, big, [{"inputs": x, "targets": y}])

    assert len(acc_grads) == 1 and len(big_grads) == 1  # one optimizer step each
    for g_acc, g_big in zip(acc_grads[0], big_grads[0]):
        torch.testing.assert_close(g_acc, g_big, atol=1e-6, rtol=0)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_last_short_window_matches_its_batch():
    model = MLP()
    twin = copy.deepcopy(model)
    x, y = torch.randn(12, 6), torch.randn(12, 3)
    acc = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=4)
    acc.initialize_count_status(model, 0, 6)  # 6 iterations: a window of 4, then one of 2
    micro = [(xb, yb) for xb, yb in zip(x.chunk(6), y.chunk(6))]
    steps = _grads_at_step(model, acc, micro)

    big = OptimWrapper(torch.optim.SGD(twin.parameters(), lr=0.1))
    ref = _grads_at_step(twin, big, [(x[:8], y[:8]), (x[8:], y[8:])])
    assert len(steps) == 2
    for got, want in zip(steps, ref):
        for g, r in zip(got, want):
            torch.testing.assert_close(g, r, atol=1e-6, rtol=0)
