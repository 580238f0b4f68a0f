"""Collate functions for dict-configured data loaders, registered in ``FUNCTIONS``.

``pseudo_collate`` (the default, as in MMEngine) groups a batch field by field WITHOUT stacking
tensors, so variable-sized samples (detection images, text) pass through and the model's data
preprocessor decides how to batch them. ``default_collate`` is torch's stacking collate.

Example:
    >>> import torch
    >>> batch = [(torch.zeros(2), 0), (torch.ones(2), 1)]
    >>> imgs, labels = pseudo_collate(batch)
    >>> len(imgs), labels
    (2, [0, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import default_collate as _torch_default_collate

from kiln.registry import FUNCTIONS

__all__ = ["pseudo_collate", "default_collate", "COLLATE_FUNCTIONS"]

# MMEngine's older name for the registry collate functions live in (``mmengine.dataset.COLLATE_FUNCTIONS``).
COLLATE_FUNCTIONS = FUNCTIONS


@FUNCTIONS.register_module()
def pseudo_collate(data_batch: Sequence[Any]) -> Any:
    """Transpose a list of samples into one container per field, keeping leaves as lists."""
    if not data_batch:
        return data_batch
    elem = data_batch[0]
    if isinstance(elem, Mapping):
        return type(elem)({key: pseudo_collate([d[key] for d in data_batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(pseudo_collate(list(s)) for s in zip(*data_batch)))
    if isinstance(elem, Sequence) and not isinstance(elem, (str, bytes)):
        size = len(elem)
        if any(len(d) != size for d in data_batch):
            raise RuntimeError("each element in the batch should be of equal size, but got "
                               f"sizes {sorted({len(d) for d in data_batch})}")
        fields = [pseudo_collate(list(s)) for s in zip(*data_batch)]
        if isinstance(elem, (list, tuple)):  # a list, so that ``model(*data)`` unpacks it
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    return list(data_batch)


@FUNCTIONS.register_module()
def default_collate(data_batch: Sequence[Any]) -> Any:
    """torch's ``default_collate``: stack tensors/numbers field by field."""
    return _torch_default_collate(data_batch)
