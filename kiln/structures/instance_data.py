"""InstanceData: per-instance fields of one sample (boxes, labels, scores...), all the same length.

Indexing selects instances across every field at once, which is what detection post-processing
does all day (``results[results.scores > 0.3]``).

Example:
    >>> import torch
    >>> inst = InstanceData(metainfo=dict(img_shape=(8, 8)))
    >>> inst.scores = torch.tensor([0.9, 0.2, 0.6])
    >>> inst.labels = [3, 1, 4]
    >>> kept = inst[inst.scores > 0.5]
    >>> len(kept), kept.labels
    (2, [3, 4])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence, Sized
from typing import Any

import numpy as np
import torch

from kiln.structures.base_data_element import BaseDataElement

__all__ = ["InstanceData"]

IndexType = str | slice | int | list | torch.Tensor | np.ndarray


class InstanceData(BaseDataElement):
    """A data element whose data fields are sized and share one length (see the module docstring).

    Metainfo fields are not length-checked. Index with a field name, an int (a length-1 element),
    a slice, a 1-D long tensor / list / ndarray of indices, or a bool tensor of full length.
    """

    def _check_data_value(self, name: str, value: Any) -> Any:
        if not isinstance(value, Sized):
            raise TypeError(f"InstanceData.{name} must have a length (__len__), but got "
                            f"{type(value).__name__}")
        if len(self) > 0 and len(value) != len(self):
            raise ValueError(f"The length of values {len(value)} is not consistent with the length "
                             f"of this InstanceData {len(self)} (setting {name!r})")
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def __len__(self) -> int:
        values = self.values()
        return len(values[0]) if values else 0

    def __getitem__(self, item: IndexType) -> Any:
        if isinstance(item, str):
            return getattr(self, item)
        if isinstance(item, list):
            item = np.array(item, dtype=np.int64)
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(item.astype(np.int64) if item.dtype == np.int32 else item)
        if isinstance(item, int):
            if not -len(self) <= item < len(self):
                raise IndexError(f"Index {item} out of range! (InstanceData of length {len(self)})")
            item = slice(item, item + 1 or None)  # a length-1 element, not a scalar
        out = self.__class__(metainfo=self.metainfo)
        if isinstance(item, torch.Tensor):
            for k, v in self.items():
                out[k] = self._index_value(k, v, item)
        elif isinstance(item, slice):
            for k, v in self.items():
                out[k] = v[item]
        else:
            raise TypeError(f"InstanceData cannot be indexed by {type(item).__name__}: use a field "
                            "name, int, slice, list, ndarray, or a long/bool tensor")
        return out

    def _index_value(self, key: str, value: Any, index: torch.Tensor) -> Any:
        if index.dim() != 1:
            raise ValueError(f"InstanceData index tensors must be 1-D, but got shape {tuple(index.shape)}")
        if index.dtype == torch.bool:
            if len(index) != len(self):
                raise ValueError(f"bool index of length {len(index)} does not match the InstanceData "
                                 f"length {len(self)}")
            index = index.nonzero().view(-1)
        elif index.is_floating_point() or index.is_complex():
            raise TypeError(f"InstanceData index tensors must be long or bool, but got {index.dtype}")
        if isinstance(value, torch.Tensor):
            return value[index.to(value.device)]
        if isinstance(value, np.ndarray):
            return value[index.cpu().numpy()]
        positions = index.cpu().tolist()
        if isinstance(value, (str, list, tuple)):
            return type(value)(value[i] for i in positions) if not isinstance(value, str) \
                else "".join(value[i] for i in positions)
        if hasattr(value, "__getitem__") and hasattr(type(value), "cat"):
            return type(value).cat([value[i:i + 1 or None] for i in positions])
        raise TypeError(f"InstanceData.{key} is a {type(value).__name__}, which has no `cat`, so it "
                        "cannot be indexed by a tensor")

    @staticmethod
    def cat(instances_list: Sequence[InstanceData]) -> InstanceData:
        """Concatenate elements with identical field names (metainfo taken from the first)."""
        if not instances_list:
            raise ValueError("InstanceData.cat needs at least one InstanceData")
        if not all(isinstance(r, InstanceData) for r in instances_list):
            raise TypeError("InstanceData.cat takes a list of InstanceData")
        if len(instances_list) == 1:
            return instances_list[0]
        keys = [set(r.all_keys()) for r in instances_list]
        if any(k != keys[0] for k in keys):
            raise ValueError(f"InstanceData.cat needs the same fields in every element, got "
                             f"{[sorted(k) for k in keys]}")
        first = instances_list[0]
        out = first.__class__(metainfo=first.metainfo)
        for key in first.keys():
            values = [r[key] for r in instances_list]
            v0 = values[0]
            if isinstance(v0, torch.Tensor):
                out[key] = torch.cat(values, dim=0)
            elif isinstance(v0, np.ndarray):
                out[key] = np.concatenate(values, axis=0)
            elif isinstance(v0, (str, list, tuple)):
                out[key] = ("".join(values) if isinstance(v0, str)
                            else type(v0)(itertools.chain.from_iterable(values)))
            elif hasattr(type(v0), "cat"):
                out[key] = type(v0).cat(values)
            else:
                raise TypeError(f"InstanceData.cat cannot concatenate {key!r} of type "
                                f"{type(v0).__name__} (no `cat`)")
        return out
