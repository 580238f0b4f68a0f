"""Device queries agree with torch; the accelerators kiln does not support report False."""

import torch

from kiln import device
from kiln.dist import get_device as rank_device


def test_get_device_matches_what_torch_has():
    expected = "cuda" if torch.cuda.is_available() else "mps" if device.is_mps_available() else "cpu"
    assert device.get_device() == expected
    assert rank_device().type == expected       # kiln.dist's per-rank device builds on it
    assert device.is_cuda_available() == torch.cuda.is_available()


def test_unsupported_accelerators_are_false():
    assert not any([device.is_npu_available(), device.is_mlu_available(), device.is_musa_available(),
                    device.is_dipu_available()])
