"""stack_batch: right/bottom padding to a divisible size, channels never padded, clear errors."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.model import stack_batch


def test_pads_right_and_bottom_to_the_divisor():
    a, b = torch.rand(2, 3, 5), torch.rand(2, 4, 2)
    out = stack_batch([a, b], pad_size_divisor=3, pad_value=7)
    assert out.shape == (2, 2, 6, 6)
    assert torch.equal(out[0, :, :3, :5], a) and torch.equal(out[1, :, :4, :2], b)
    assert (out[0, :, 3:, :] == 7).all() and (out[0, :, :, 5:] == 7).all()
    assert (out[1, :, :, 2:] == 7).all()


def test_same_sizes_are_a_plain_stack():
    ts = [torch.rand(3, 4, 4) for _ in range(3)]
    assert torch.equal(stack_batch(ts, pad_size_divisor=2), torch.stack(ts))


def test_three_spatial_dims_and_dtype_kept():
    out = stack_batch([torch.ones(1, 2, 2, 2, dtype=torch.uint8), torch.ones(1, 1, 3, 1, dtype=torch.uint8)])
    assert out.shape == (2, 1, 2, 3, 2) and out.dtype == torch.uint8
    assert out[1, 0, 1:].sum() == 0 and out[1, 0, 0, :, 0].sum() == 3


@pytest.mark.parametrize("arg, exc, match", [
    ([], ValueError, "empty"),
    (torch.zeros(2, 3), TypeError, "list of tensors"),
    ([torch.zeros(1, 2), torch.zeros(1, 2, 2)], ValueError, r"\[2, 3\]"),
    ([torch.zeros(1, 2), torch.zeros(3, 2)], ValueError, "channels"),
    ([torch.zeros(1, 2), "x"], TypeError, "item 1"),
])
def test_bad_input(arg, exc, match):
    with pytest.raises(exc, match=match):
        stack_batch(arg)


@pytest.mark.parametrize("divisor", [0, -2, 1.0])
def test_divisor_is_validated(divisor):
    with pytest.raises(ConfigError, match="pad_size_divisor"):
        stack_batch([torch.zeros(1, 2)], pad_size_divisor=divisor)
