"""BaseModel.parse_losses: means, lists, 'loss' substring keys, ordering, detached values, errors."""

from collections import OrderedDict

import pytest
import torch

from kiln.model import BaseModel


class Net(BaseModel):
    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs


@pytest.fixture
def net():
    return Net()


def test_means_lists_and_substring_keys(net):
    w = torch.ones(2, requires_grad=True)
    losses = {
        "loss_cls": w * torch.tensor([1.0, 3.0]),  # mean 2
        "acc": torch.tensor([0.5, 0.7]),  # logged, not summed
        "aux_loss": [w.sum(), w * 2],  # 2 + 2
        "myloss": torch.tensor(1.0),
    }
    loss, log_vars = net.parse_losses(losses)
    assert isinstance(log_vars, OrderedDict)
    assert list(log_vars) == ["loss", "loss_cls", "acc", "aux_loss", "myloss"]
    assert loss.item() == pytest.approx(2 + 4 + 1)
    assert log_vars["acc"].item() == pytest.approx(0.6)
    assert log_vars["aux_loss"].item() == pytest.approx(4)
    loss.backward()  # the returned loss keeps its graph
    assert w.grad is not None


def test_log_vars_are_detached_tensors_not_numbers(net):
    w = torch.ones(1, requires_grad=True)
    _, log_vars = net.parse_losses({"loss": w * 2})
    for value in log_vars.values():
        assert isinstance(value, torch.Tensor) and not value.requires_grad and value.grad_fn is None


def test_user_key_named_loss_keeps_position_zero(net):
    loss, log_vars = net.parse_losses({"loss_a": torch.tensor(1.0), "loss": torch.tensor(5.0)})
    assert list(log_vars) == ["loss", "loss_a"]
    assert log_vars["loss"].item() == 5.0  # MMEngine: the user's value is logged
    assert loss.item() == 6.0  # the backward loss sums every 'loss' key


@pytest.mark.parametrize("value, type_name", [
    (1.0, "float"), (None, "NoneType"), ((torch.ones(1),), "tuple"), ({"a": torch.ones(1)}, "dict"),
    ([torch.ones(1), 2.0], "list"), ([], "list"),
])
def test_non_tensor_value_names_key_and_type(net, value, type_name):
    with pytest.raises(TypeError, match=rf"losses\['loss_x'\] is not a tensor or a non-empty list of tensors, but a {type_name}"):
        net.parse_losses({"loss_x": value})


def test_no_loss_key_is_a_clear_error(net):
    with pytest.raises(ValueError, match=r"none of the losses has 'loss' in its name \(got keys \['acc'\]\)"):
        net.parse_losses({"acc": torch.tensor(1.0)})
