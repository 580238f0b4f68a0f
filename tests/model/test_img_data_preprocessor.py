"""ImgDataPreprocessor: flips, normalisation in float on the target device, padding, bad input."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.model import ImgDataPreprocessor
from kiln.registry import MODELS


def _imgs(*shapes):
    return [torch.randint(0, 256, s, dtype=torch.uint8) for s in shapes]


def test_batched_tensor_flip_normalise_pad():
    x = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    pre = ImgDataPreprocessor(mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0], bgr_to_rgb=True,
                              pad_size_divisor=4, pad_value=-9)
    out = pre({"inputs": x, "data_samples": ["a", "b"]})
    batch = out["inputs"]
    assert batch.shape == (2, 3, 8, 8) and batch.dtype == torch.float32
    mean = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
    std = torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1)
    expected = (x.flip(1).float() - mean) / std
    assert torch.allclose(batch[:, :, :5, :7], expected)
    assert (batch[:, :, 5:, :] == -9).all() and (batch[:, :, :, 7:] == -9).all()
    assert out["data_samples"] == ["a", "b"]


def test_list_of_different_sizes_is_stacked_with_padding():
    imgs = _imgs((3, 4, 6), (3, 6, 3))
    out = ImgDataPreprocessor(mean=[127.5], std=[127.5], pad_size_divisor=2)({"inputs": imgs})
    assert out["inputs"].shape == (2, 3, 6, 6)
    assert torch.allclose(out["inputs"][1, :, :6, :3], (imgs[1].float() - 127.5) / 127.5)
    assert (out["inputs"][0, :, 4:, :] == 0).all()
    assert out["data_samples"] is None


def test_without_normalisation_inputs_become_float():
    out = ImgDataPreprocessor()({"inputs": torch.ones(1, 1, 2, 2, dtype=torch.uint8)})
    assert out["inputs"].dtype == torch.float32 and torch.equal(out["inputs"], torch.ones(1, 1, 2, 2))


def test_mean_std_follow_the_model_and_are_not_in_state_dict():
    pre = MODELS.build(dict(type="ImgDataPreprocessor", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0]))
    assert "mean" not in pre.state_dict()
    pre.to("meta")
    assert pre.mean.device.type == "meta" and pre.device.type == "meta"


def test_uint8_travels_and_is_normalised_on_the_target_device():
    pre = ImgDataPreprocessor(mean=[0.0], std=[1.0]).to("meta")
    out = pre({"inputs": torch.zeros(1, 1, 2, 2, dtype=torch.uint8)})
    assert out["inputs"].device.type == "meta" and out["inputs"].dtype == torch.float32


@pytest.mark.parametrize("kwargs, key", [
    (dict(bgr_to_rgb=True, rgb_to_bgr=True), "bgr_to_rgb"),
    (dict(mean=[1.0]), "std"),
    (dict(std=[1.0]), "mean"),
    (dict(mean=[0, 0, 0], std=[1, 1]), "std"),
    (dict(mean=[0.0], std=[0.0]), "std"),
    (dict(pad_size_divisor=0), "pad_size_divisor"),
    (dict(pad_size_divisor=1.5), "pad_size_divisor"),
])
def test_bad_arguments_name_the_key(kwargs, key):
    with pytest.raises(ConfigError) as info:
        ImgDataPreprocessor(**kwargs)
    assert info.value.path == key


def test_flip_needs_three_channels():
    pre = ImgDataPreprocessor(bgr_to_rgb=True)
    with pytest.raises(ValueError, match="3-channel"):
        pre({"inputs": torch.zeros(1, 4, 2, 2)})
    with pytest.raises(ValueError, match=r"shape \(1, 2, 2\)"):
        pre({"inputs": [torch.zeros(1, 2, 2)]})


def test_mean_channel_count_must_match():
    pre = ImgDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])
    with pytest.raises(ValueError, match="3 channels"):
        pre({"inputs": [torch.zeros(1, 2, 2)]})


@pytest.mark.parametrize("data, match", [
    ((torch.zeros(1, 3, 2, 2),), "dict with an 'inputs' key"),
    ({"img": torch.zeros(1, 3, 2, 2)}, "dict with an 'inputs' key"),
    ({"inputs": torch.zeros(3, 2, 2)}, "shape \\(3, 2, 2\\)"),
    ({"inputs": []}, "non-empty list"),
    ({"inputs": "img.png"}, "str"),
])
def test_bad_batches(data, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ImgDataPreprocessor()(data)
