"""Dataset wrappers (MMEngine's): concatenate, repeat, or class-balance datasets.

Each wraps datasets given built or as configs (built through ``DATASETS``), shares the first
dataset's ``metainfo``, and honours ``lazy_init``: with it, nothing is loaded until
``full_init()`` or the first access.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from kiln.dataset.base_dataset import BaseDataset, force_full_init
from kiln.registry import DATASETS, build_from_cfg

__all__ = ["ConcatDataset", "RepeatDataset", "ClassBalancedDataset"]


class _Wrapper(Dataset):
    """Shared parts: building the wrapped dataset(s), lazy init, subset refusal, index mapping."""

    _fully_initialized = False

    @staticmethod
    def _build(dataset: Any, path: str) -> Any:
        if isinstance(dataset, Mapping):
            return build_from_cfg(dataset, DATASETS, path=path)
        if isinstance(dataset, (BaseDataset, _Wrapper)):
            return dataset
        raise TypeError(f"{path}: expected a BaseDataset, a dataset wrapper or a config dict, but got "
                        f"{type(dataset).__name__}")

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self._init_wrapped()
        self._fully_initialized = True

    def _init_wrapped(self) -> None:
        raise NotImplementedError

    def _get_ori_dataset_idx(self, idx: int) -> tuple[Any, int]:
        """(wrapped dataset, its index) for wrapper index ``idx``."""
        raise NotImplementedError

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        dataset, sample_idx = self._get_ori_dataset_idx(idx)
        return dataset.get_data_info(sample_idx)

    @force_full_init
    def get_cat_ids(self, idx: int) -> list[int]:
        dataset, sample_idx = self._get_ori_dataset_idx(idx)
        return dataset.get_cat_ids(sample_idx)

    @force_full_init
    def __getitem__(self, idx: int) -> Any:
        dataset, sample_idx = self._get_ori_dataset_idx(idx)
        return dataset[sample_idx]

    def get_subset_(self, indices: int | Sequence[int]) -> None:
        self._no_subsets()

    def get_subset(self, indices: int | Sequence[int]) -> Any:
        self._no_subsets()

    def _no_subsets(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} does not support get_subset/get_subset_ (which samples of the "
            "wrapped dataset(s) they mean is ambiguous): take the subset of the wrapped dataset first, "
            f"then wrap it in {type(self).__name__}")

    def _check_index(self, idx: int) -> int:
        length = len(self)
        if not -length <= idx < length:
            raise IndexError(f"index {idx} out of range for {type(self).__name__} of length {length}")
        return idx + length if idx < 0 else idx


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@DATASETS.register_module()
class ConcatDataset(_Wrapper):
    """The samples of ``datasets``, one after another.

    Every metainfo key (except ``ignore_keys``) must be present, of the same type and equal in all
    datasets (checked once they are initialised): concatenating datasets whose classes differ
    would mislabel samples silently.
    """

    def __init__(self, datasets: Sequence[Any], lazy_init: bool = False,
                 ignore_keys: str | list[str] | None = None) -> None:
        self.datasets = [self._build(d, f"datasets[{i}]") for i, d in enumerate(datasets)]
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        if ignore_keys is None:
            ignore_keys = []
        elif isinstance(ignore_keys, str):
            ignore_keys = [ignore_keys]
        if not isinstance(ignore_keys, list) or not all(isinstance(k, str) for k in ignore_keys):
            raise TypeError(f"ignore_keys should be a str or a list of str, but got {ignore_keys!r}")
        self._ignore_keys = set(ignore_keys)
        self.cumulative_sizes: list[int] = []
        if not lazy_init:
            self.full_init()

    def _check_metainfo(self, ignore: set[str]) -> None:
        metas = [d.metainfo for d in self.datasets]
        keys = set().union(*metas) - ignore
        first = metas[0]
        for i, meta in enumerate(metas):
            for key in sorted(keys):
                if key not in meta or key not in first:
                    raise ValueError(f"metainfo key {key!r} is missing from dataset {i if key not in meta else 0} "
                                     "of the ConcatDataset (list it in ignore_keys to allow that)")
                if type(meta[key]) is not type(first[key]):
                    raise TypeError(f"metainfo[{key!r}] of dataset {i} is a {type(meta[key]).__name__}, "
                                    f"but dataset 0's is a {type(first[key]).__name__}")
                if not _equal(meta[key], first[key]):
                    raise ValueError(f"metainfo[{key!r}] of dataset {i} ({meta[key]!r}) differs from "
                                     f"dataset 0's ({first[key]!r}); list it in ignore_keys if that is intended")

    @property
    def metainfo(self) -> dict:
        return self.datasets[0].metainfo

    def _init_wrapped(self) -> None:
        sizes = []
        for dataset in self.datasets:
            dataset.full_init()  # first: a lazy dataset's metainfo may come from its file
            sizes.append(len(dataset))
        self._check_metainfo(self._ignore_keys)
        self.cumulative_sizes = np.cumsum(sizes).tolist()

    @force_full_init
    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _get_ori_dataset_idx(self, idx: int) -> tuple[Any, int]:
        idx = self._check_index(idx)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[which], idx - (self.cumulative_sizes[which - 1] if which else 0)


@DATASETS.register_module()
class RepeatDataset(_Wrapper):
    """``dataset`` repeated ``times`` times (saves the dataloader restart between short epochs)."""

    def __init__(self, dataset: Any, times: int, lazy_init: bool = False) -> None:
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive int, but got {times!r}")
        self.dataset = self._build(dataset, "dataset")
        self.times = times
        self._metainfo = self.dataset.metainfo
        self._ori_len = 0
        if not lazy_init:
            self.full_init()

    def _init_wrapped(self) -> None:
        self.dataset.full_init()
        self._ori_len = len(self.dataset)

    @force_full_init
    def __len__(self) -> int:
        return self.times * self._ori_len

    def _get_ori_dataset_idx(self, idx: int) -> tuple[Any, int]:
        return self.dataset, self._check_index(idx) % self._ori_len


@DATASETS.register_module()
class ClassBalancedDataset(_Wrapper):
    """Repeat samples of rare categories (LVIS's repeat-factor sampling).

    With f(c) the fraction of samples containing category c, r(c) = max(1, sqrt(thr / f(c))); a
    sample's factor is the max r(c) over its categories (1 if it has none), and it appears
    ``ceil(factor)`` times, in order. Needs ``dataset.get_cat_ids(idx)``.
    """

    def __init__(self, dataset: Any, oversample_thr: float, lazy_init: bool = False) -> None:
        self.dataset = self._build(dataset, "dataset")
        self.oversample_thr = oversample_thr
        self._metainfo = self.dataset.metainfo
        self.repeat_indices: list[int] = []
        if not lazy_init:
            self.full_init()

    def _init_wrapped(self) -> None:
        self.dataset.full_init()
        for idx, factor in enumerate(self._get_repeat_factors()):
            self.repeat_indices.extend([idx] * math.ceil(factor))

    def _get_repeat_factors(self) -> list[float]:
        cat_ids = [set(self.dataset.get_cat_ids(i)) for i in range(len(self.dataset))]
        counts: dict[int, int] = defaultdict(int)
        for cats in cat_ids:
            for c in cats:
                counts[c] += 1
        n = len(cat_ids)
        repeat = {c: max(1.0, math.sqrt(self.oversample_thr / (k / n))) for c, k in counts.items()}
        return [max((repeat[c] for c in cats), default=1.0) for cats in cat_ids]

    @force_full_init
    def __len__(self) -> int:
        return len(self.repeat_indices)

    def _get_ori_dataset_idx(self, idx: int) -> tuple[Any, int]:
        return self.dataset, self.repeat_indices[self._check_index(idx)]
