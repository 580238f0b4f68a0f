"""Small model utilities: batch stacking with padding, dict merging, and re-exports.

``detect_anomalous_params`` lives in :mod:`kiln.model.anomaly` and the SyncBN converters in
:mod:`kiln.model.sync_batchnorm`; they are re-exported here because MMEngine users import them
from ``mmengine.model.utils``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx

from kiln.errors import ConfigError
from kiln.model.anomaly import detect_anomalous_params
from kiln.model.sync_batchnorm import convert_sync_batchnorm, revert_sync_batchnorm

__all__ = [
    "stack_batch", "merge_dict", "detect_anomalous_params", "convert_sync_batchnorm",
    "revert_sync_batchnorm",
]


def stack_batch(
    tensor_list: Sequence[torch.Tensor],
    pad_size_divisor: int = 1,
    pad_value: float = 0,
) -> torch.Tensor:
    """Stack ``(C, *spatial)`` tensors of different spatial sizes into one ``(N, C, *max)`` batch.

    Every dim but the first (channels) is padded at its end (right/bottom/back) up to the batch
    maximum rounded up to a multiple of ``pad_size_divisor``. The batch is allocated once and
    filled, instead of padding each tensor and stacking the copies.

    Example:
        >>> stack_batch([torch.ones(1, 2, 3), torch.ones(1, 3, 2)], pad_size_divisor=4).shape
        torch.Size([2, 1, 4, 4])
    """
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"stack_batch expects a list of tensors, but got {type(tensor_list).__name__}")
    if not tensor_list:
        raise ValueError("stack_batch: `tensor_list` is empty; expected at least one tensor")
    bad = [i for i, t in enumerate(tensor_list) if not isinstance(t, torch.Tensor)]
    if bad:
        raise TypeError(f"stack_batch: item {bad[0]} is a {type(tensor_list[bad[0]]).__name__}, expected a tensor")
    if not isinstance(pad_size_divisor, int) or isinstance(pad_size_divisor, bool) or pad_size_divisor < 1:
        raise ConfigError("pad_size_divisor", f"expected a positive int, but got {pad_size_divisor!r}")
    ndims = [t.dim() for t in tensor_list]
    if len(set(ndims)) != 1:
        raise ValueError(f"stack_batch: all tensors must have the same number of dimensions, but got {ndims}")
    if ndims[0] == 0:
        raise ValueError("stack_batch: expected tensors with a channel dim, but got 0-d tensors")
    channels = [t.shape[0] for t in tensor_list]
    if len(set(channels)) != 1:
        raise ValueError(f"stack_batch: dim 0 (channels) is never padded and must match, but got sizes {channels}")
    shapes = torch.tensor([t.shape for t in tensor_list])  # (N, ndim): sizes, no device involved
    max_shape = shapes.max(dim=0).values
    target = (max_shape + pad_size_divisor - 1) // pad_size_divisor * pad_size_divisor
    target[0] = max_shape[0]
    if bool((shapes == target).all()):
        return torch.stack(list(tensor_list))
    first = tensor_list[0]
    batch = first.new_full((len(tensor_list), *target.tolist()), pad_value)
    for out, t in zip(batch, tensor_list):
        out[tuple(slice(0, s) for s in t.shape)] = t
    return batch


def merge_dict(*args: dict) -> dict:
    """Merge dicts left to right into a new dict (later keys win).

    Registered as an FX leaf (``torch.fx.wrap``), so symbolic tracing of a model that merges its
    loss dicts records one call instead of tracing into dict operations.
    """
    out: dict = {}
    for i, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise TypeError(f"merge_dict: every argument must be a dict, but argument {i} is a {type(arg).__name__}")
        out.update(arg)
    return out


torch.fx.wrap("merge_dict")
