"""Per-sample random streams in DataLoader workers, and errors that name the sample's index.

A dataset that draws random numbers (augmentation) inside DataLoader workers draws from each
worker's stream. Which worker gets which sample, and how far its stream has advanced, depend on
where the pass started, so a run resumed mid-epoch drew different augmentations than the
uninterrupted one. :class:`SeededSamples` seeds python/numpy/torch in the worker from
``(seed, epoch, index)`` before each ``dataset[index]``: sample ``index`` of epoch ``epoch``
gets the same random numbers whatever worker loads it and wherever the pass started, so a
mid-epoch resume is bitwise exact (the cost: three seed calls per sample, ~10 µs, in the workers).
In the main process (``num_workers=0``) nothing is reseeded: the global streams are part of the
checkpoint already.

``build_dataloader`` wraps map-style datasets of dataloader configs; the wrapper forwards every
attribute (``metainfo``, ...) to the dataset and reports the dataset's class as its ``__class__``
(``isinstance(loader.dataset, MyDataset)`` holds). It pickles as itself (``__reduce__``), so the
``spawn`` and ``forkserver`` start methods, which pickle the dataset into every worker, get the
same per-sample seeds as ``fork``. An exception in ``__getitem__`` gets a note
``kiln: raised in dataset MyDataset[17]`` (also from a worker: the note travels in the traceback
text the worker sends back).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from kiln.errors import add_origin

__all__ = ["SeededSamples", "sample_seed"]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of sample ``index`` in ``epoch`` (tuples of ints hash the same in every process)."""
    return hash((int(seed), int(epoch), int(index))) % 2**32


class SeededSamples(Dataset):
    """``dataset[index]`` with per-sample worker seeding (``seed`` not None) and index-naming errors.

    Args:
        dataset: A map-style dataset.
        seed: The run's seed; None: no reseeding, only the error notes.
        sampler: Where the current epoch is read (``sampler.epoch``, as the worker's copy saw it
            when the pass started; with ``persistent_workers=True`` the workers keep the epoch
            of their start, so samples still differ by index but not by epoch).
    """

    def __init__(self, dataset: Any, seed: int | None = None, sampler: Any = None) -> None:
        self.dataset = dataset
        self.seed = seed
        self.sampler = sampler

    def __getitem__(self, index: Any) -> Any:
        if self.seed is not None and get_worker_info() is not None:
            value = sample_seed(self.seed, getattr(self.sampler, "epoch", 0), index)
            random.seed(value)
            np.random.seed(value)
            torch.manual_seed(value)
        try:
            return self.dataset[index]
        except Exception as exc:
            add_origin(exc, f"in dataset {type(self.dataset).__name__}[{index!r}]")
            raise

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "seed", "sampler") or name.startswith("__"):
            raise AttributeError(name)  # not set yet (built without __init__): no recursion
        return getattr(self.dataset, name)

    def __reduce__(self) -> tuple[Any, ...]:
        # object's default reduce is ``copyreg.__newobj__(SeededSamples)``, which pickle checks
        # against ``self.__class__`` (the dataset's class, see below) and rejects ("args[0] from
        # __newobj__ args has the wrong class"): spawn/forkserver workers got no dataset.
        return SeededSamples, (self.dataset, self.seed, self.sampler)

    @property  # type: ignore[misc]
    def __class__(self):  # isinstance(loader.dataset, MyDataset) keeps working through the wrapper
        return type(self.dataset)

    def __repr__(self) -> str:
        return f"SeededSamples({self.dataset!r})"
