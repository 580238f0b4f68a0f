"""AmpOptimWrapper: bfloat16 autocast on CPU (no scaler), float16 with a GradScaler, CUDA when present."""

import copy

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim import AmpOptimWrapper, OptimWrapper


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x).float(), y)


def test_bfloat16_on_cpu_autocasts_without_a_scaler(tiny_net, batch):
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1), dtype="bfloat16")
    assert wrapper.device_type == "cpu" and wrapper.loss_scaler is None
    x, y = batch
    with wrapper.optim_context(tiny_net):
        out = tiny_net(x)
        inner = torch.mm(x, x.t())
    assert out.dtype == torch.bfloat16 and inner.dtype == torch.bfloat16
    assert torch.mm(x, x.t()).dtype == torch.float32  # autocast ends with the context
    before = tiny_net.fc1.weight.detach().clone()
    wrapper.update_params(nn.functional.mse_loss(out.float(), y))
    assert not torch.equal(before, tiny_net.fc1.weight)
    assert tiny_net.fc1.weight.dtype == torch.float32  # master weights stay float32
    assert "loss_scaler" not in wrapper.state_dict()


def test_dtype_none_uses_the_device_default(tiny_net):
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1))
    assert wrapper.cast_dtype == torch.get_autocast_dtype("cpu")


def test_float16_uses_a_scaler_and_matches_unscaled_training(tiny_net, batch):
    reference = copy.deepcopy(tiny_net)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1), dtype="float16",
                              loss_scale=1024.0, clip_grad=dict(max_norm=1e6))
    assert isinstance(wrapper.loss_scaler, torch.amp.GradScaler)
    wrapper.update_params(_loss(tiny_net, *batch))  # no autocast: only scaling is exercised
    plain = OptimWrapper(torch.optim.SGD(reference.parameters(), lr=0.1), clip_grad=dict(max_norm=1e6))
    plain.update_params(_loss(reference, *batch))
    # unscaled before clipping: the recorded norm is the true one
    torch.testing.assert_close(wrapper.grad_norm, plain.grad_norm, rtol=1e-5, atol=1e-6)
    for p, q in zip(tiny_net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert wrapper.loss_scaler.get_scale() == 1024.0  # static scale stays


def test_dynamic_scaler_skips_overflowing_step_and_round_trips(tiny_net, batch):
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1), dtype="float16",
                              loss_scale=dict(init_scale=256.0, growth_interval=1))
    before = copy.deepcopy(tiny_net.state_dict())
    wrapper.update_params(_loss(tiny_net, *batch) * float("inf"))
    for key, value in tiny_net.state_dict().items():
        assert torch.equal(value, before[key])  # the scaler skipped the step
    assert wrapper.loss_scaler.get_scale() == 128.0  # and backed off
    state = wrapper.state_dict()
    assert state["loss_scaler"]["scale"] == 128.0
    other = AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1), dtype="float16")
    other.load_state_dict(state)
    assert other.loss_scaler.get_scale() == 128.0


@pytest.mark.parametrize("kwargs, path", [
    (dict(dtype="float8"), "optim_wrapper.dtype"),
    (dict(dtype="float16", loss_scale="static"), "optim_wrapper.loss_scale"),
    (dict(dtype="float16", loss_scale=-1.0), "optim_wrapper.loss_scale"),
    (dict(dtype="float16", loss_scale=dict(bogus=1)), "optim_wrapper.loss_scale"),
])
def test_bad_arguments(tiny_net, kwargs, path):
    with pytest.raises(ConfigError, match=path):
        AmpOptimWrapper(optimizer=torch.optim.SGD(tiny_net.parameters(), lr=0.1), **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cuda_autocast_and_training(dtype):
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).cuda()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype=dtype,
                              clip_grad=dict(max_norm=10.0))
    assert wrapper.device_type == "cuda"
    assert (wrapper.loss_scaler is not None) == (dtype == "float16")
    x, y = torch.randn(8, 16, device="cuda"), torch.randn(8, 4, device="cuda")
    losses = []
    for _ in range(20):
        with wrapper.optim_context(model):
            out = model(x)
            assert out.dtype == getattr(torch, dtype)
            loss = nn.functional.mse_loss(out.float(), y)
        wrapper.update_params(loss)
        losses.append(loss.detach())
    assert torch.stack(losses)[-1] < torch.stack(losses)[0]
    assert wrapper.grad_norm.device.type == "cuda"
    if dtype == "float16":
        assert "loss_scaler" in wrapper.state_dict()
