"""LabelData one-hot helpers; PixelData shape rules and 2-D indexing."""

import numpy as np
import pytest
import torch

from kiln.structures import LabelData, PixelData


def test_label_onehot_round_trip():
    onehot = LabelData.label_to_onehot(torch.tensor([1, 3]), num_classes=5)
    assert onehot.tolist() == [0, 1, 0, 1, 0] and onehot.dtype == torch.int64
    assert LabelData.onehot_to_label(onehot).tolist() == [1, 3]
    with pytest.raises(ValueError, match="out of range"):
        LabelData.label_to_onehot(torch.tensor([5]), num_classes=5)
    with pytest.raises(ValueError, match="not one-hot"):
        LabelData.onehot_to_label(torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="not one-hot"):
        LabelData.onehot_to_label(torch.ones(2, 2))


def test_pixel_data_shapes():
    pix = PixelData(metainfo=dict(img_shape=(4, 5)))
    with pytest.warns(UserWarning, match=r"\(4, 5\) to \(1, 4, 5\)"):
        pix.seg = torch.zeros(4, 5)
    assert pix.seg.shape == (1, 4, 5) and pix.shape == (4, 5)
    pix.heat = np.zeros((3, 4, 5))
    with pytest.raises(ValueError, match=r"\(H, W\) = \(4, 6\)"):
        pix.bad = torch.zeros(1, 4, 6)
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        pix.bad = torch.zeros(5)
    with pytest.raises(TypeError, match="tensor or ndarray"):
        pix.bad = [[1]]
    assert PixelData().shape is None


def test_pixel_data_indexing_keeps_dims():
    pix = PixelData(seg=torch.arange(20).reshape(1, 4, 5))
    crop = pix[1:3, 2]
    assert crop.seg.shape == (1, 2, 1) and crop.seg.flatten().tolist() == [7, 12]
    with pytest.raises(TypeError, match="2-tuple"):
        pix[0]
