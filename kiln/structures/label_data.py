"""LabelData: a sample's labels (classification), with one-hot ⇄ index helpers."""

from __future__ import annotations

import torch

from kiln.structures.base_data_element import BaseDataElement

__all__ = ["LabelData"]


class LabelData(BaseDataElement):
    """Data element for labels; no length or shape rules."""

    @staticmethod
    def onehot_to_label(onehot: torch.Tensor) -> torch.Tensor:
        """Indices of the ones of a 1-D one-hot (or multi-hot) tensor."""
        if not isinstance(onehot, torch.Tensor):
            raise TypeError(f"onehot must be a tensor, but got {type(onehot).__name__}")
        if onehot.ndim == 1 and onehot.numel() and onehot.min() >= 0 and onehot.max() <= 1:
            return onehot.nonzero().squeeze()
        raise ValueError("input is not one-hot and can not convert to label "
                         f"(expected a 1-D tensor of 0s and 1s, got shape {tuple(onehot.shape)})")

    @staticmethod
    def label_to_onehot(label: torch.Tensor, num_classes: int) -> torch.Tensor:
        """A ``num_classes`` one-hot tensor (label's dtype and device) with ones at ``label``."""
        if not isinstance(label, torch.Tensor):
            raise TypeError(f"label must be a tensor, but got {type(label).__name__}")
        if label.numel() and int(label.max()) >= num_classes:
            raise ValueError(f"label {int(label.max())} is out of range for num_classes={num_classes}")
        onehot = label.new_zeros((num_classes,))
        onehot[label] = 1
        return onehot
