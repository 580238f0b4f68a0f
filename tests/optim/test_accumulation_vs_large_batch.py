"""Gradient accumulation equals one large batch, including the last, shorter window of the run."""

import copy

import torch
from torch import nn

from kiln.optim import OptimWrapper


class RecordingSGD(torch.optim.SGD):
    """Keeps a copy of the gradients each time it steps."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen_grads = []

    def step(self, closure=None):
        self.seen_grads.append([p.grad.clone() for g in self.param_groups for p in g["params"]])
        return super().step(closure)


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def _run_accumulated(model, x, y, micro, acc, total_known):
    optimizer = RecordingSGD(model.parameters(), lr=0.1, momentum=0.9)
    wrapper = OptimWrapper(optimizer, accumulative_counts=acc)
    n_calls = len(x) // micro
    if total_known:
        wrapper.initialize_count_status(model, 0, n_calls)
    for i in range(n_calls):
        sl = slice(i * micro, (i + 1) * micro)
        with wrapper.optim_context(model):
            loss = _loss(model, x[sl], y[sl])
        wrapper.update_params(loss)
    return optimizer.seen_grads


def _run_large_batches(model, x, y, sizes):
    optimizer = RecordingSGD(model.parameters(), lr=0.1, momentum=0.9)
    start = 0
    for size in sizes:
        _loss(model, x[start:start + size], y[start:start + size]).backward()
        optimizer.step()
        optimizer.zero_grad()
        start += size
    return optimizer.seen_grads


def test_accumulation_with_partial_last_window_matches_large_batches(tiny_net, batch):
    x, y = batch
    reference = copy.deepcopy(tiny_net)
    # 5 micro-batches of 2, accumulate 3: windows of 6 and then 4 samples
    grads = _run_accumulated(tiny_net, x, y, micro=2, acc=3, total_known=True)
    ref_grads = _run_large_batches(reference, x, y, sizes=[6, 4])
    assert len(grads) == len(ref_grads) == 2
    for step, ref_step in zip(grads, ref_grads):
        for g, r in zip(step, ref_step):
            torch.testing.assert_close(g, r, atol=1e-6, rtol=0)
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_accumulation_with_full_windows_matches_large_batches(tiny_net, batch):
    x, y = batch
    reference = copy.deepcopy(tiny_net)
    grads = _run_accumulated(tiny_net, x, y, micro=1, acc=5, total_known=False)
    ref_grads = _run_large_batches(reference, x, y, sizes=[5, 5])
    for step, ref_step in zip(grads, ref_grads):
        for g, r in zip(step, ref_step):
            torch.testing.assert_close(g, r, atol=1e-6, rtol=0)
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_unknown_total_scales_the_last_window_by_the_full_count(tiny_net, batch):
    """Without initialize_count_status the last partial window is divided by N (MMEngine's behaviour)."""
    x, y = batch
    reference = copy.deepcopy(tiny_net)
    grads = _run_accumulated(tiny_net, x, y, micro=2, acc=3, total_known=False)
    assert len(grads) == 1  # the 2-call tail never reaches a step without the total
    ref_grads = _run_large_batches(reference, x, y, sizes=[6])
    for g, r in zip(grads[0], ref_grads[0]):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=0)


def test_resume_mid_window_and_batchnorm_warn(capsys):
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=4)
    wrapper.initialize_count_status(model, 6, 20)
    out = capsys.readouterr().out
    assert "6 is not divisible by accumulative_counts (4)" in out
    assert "GradientCumulativeOptimizerHook" in out
    assert "Gradient accumulative may slightly decrease performance because the model has BatchNorm layers." in out
    assert wrapper.inner_count == 6 and wrapper.max_counts == 20


def test_no_warning_for_aligned_resume_without_batchnorm(tiny_net, capsys):
    wrapper = OptimWrapper(torch.optim.SGD(tiny_net.parameters(), lr=0.1), accumulative_counts=4)
    wrapper.initialize_count_status(tiny_net, 8, 20)
    assert capsys.readouterr().out == ""
