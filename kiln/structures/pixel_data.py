"""PixelData: per-pixel fields of one sample (segmentation maps, heatmaps), shaped (C, H, W).

Every data field shares the last two dims; 2-D values are stored as (1, H, W).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from kiln.structures.base_data_element import BaseDataElement

__all__ = ["PixelData"]


class PixelData(BaseDataElement):
    """Data element for pixel-level fields (see the module docstring).

    Index with a 2-tuple of ints/slices over (H, W): ints keep the dims.
    """

    def _check_data_value(self, name: str, value: Any) -> Any:
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise TypeError(f"PixelData.{name} must be a tensor or ndarray, but got {type(value).__name__}")
        if value.ndim not in (2, 3):
            raise ValueError(f"PixelData.{name} must be 2-D (H, W) or 3-D (C, H, W), but got shape "
                             f"{tuple(value.shape)}")
        if value.ndim == 2:
            value = value[None]
            warnings.warn(f"The shape of value will convert from {tuple(value.shape[-2:])} to "
                          f"{tuple(value.shape)}", stacklevel=4)
        shape = self.shape
        if shape is not None and tuple(value.shape[-2:]) != shape:
            raise ValueError(f"PixelData.{name} has (H, W) = {tuple(value.shape[-2:])}, but this "
                             f"PixelData's fields are {shape}")
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    @property
    def shape(self) -> tuple[int, int] | None:
        values = self.values()
        return tuple(values[0].shape[-2:]) if values else None

    def __getitem__(self, item: tuple[int | slice, int | slice]) -> PixelData:
        if not (isinstance(item, tuple) and len(item) == 2
                and all(isinstance(i, (int, slice)) for i in item)):
            raise TypeError(f"Unsupported type {type(item).__name__} for slicing PixelData: index "
                            "with a 2-tuple of ints/slices over (H, W)")
        rows, cols = (slice(i, i + 1 or None) if isinstance(i, int) else i for i in item)
        out = self.__class__(metainfo=self.metainfo)
        for k, v in self.items():
            out[k] = v[:, rows, cols]
        return out
