"""Checks ``train()`` runs before anything changes: data that exists, optimizer numbers that are numbers.

Both failures used to surface late and cryptically: an empty train dataset after ``init_weights``
had changed the weights; ``lr='0.1'`` (a YAML/CLI string) as ``'<' not supported between
instances of 'str' and 'float'`` deep inside torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.dataset.seeded import SeededSamples
from kiln.errors import ConfigError

__all__ = ["check_train_data", "check_optimizer_numbers"]


def check_train_data(loader: Any) -> None:
    """Raise when the train data has no samples (only for datasets that know their length)."""
    dataset = getattr(loader, "dataset", None)
    try:
        size = len(dataset) if dataset is not None else len(loader)
    except TypeError:  # an IterableDataset without __len__: nothing to check up front
        return
    if size == 0:
        inner = getattr(dataset, "dataset", dataset) if isinstance(dataset, SeededSamples) else dataset
        raise ConfigError("train_dataloader.dataset", f"the dataset ({type(inner).__name__}) is empty; "
                                                       "training needs at least one sample")


def check_optimizer_numbers(optim_wrapper: Any) -> None:
    """Raise naming ``optim_wrapper.optimizer.<key>`` for a number given as a string (``lr='0.1'``)."""
    if not isinstance(optim_wrapper, Mapping):
        return
    optimizer = optim_wrapper.get("optimizer")
    if not isinstance(optimizer, Mapping):
        return
    for key, value in optimizer.items():
        if key != "type" and isinstance(value, str) and _is_number(value):
            raise ConfigError(f"optim_wrapper.optimizer.{key}",
                              f"expected a number, but got the string {value!r} (write {key}={value} "
                              "without quotes)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
