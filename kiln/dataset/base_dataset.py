"""BaseDataset: MMEngine's annotation-file dataset (metainfo, lazy init, filtering, subsets,
serialisation, pipeline with refetch).

An annotation file is json/yaml/pickle holding ``{'metainfo': {...}, 'data_list': [{...}, ...]}``.
After ``full_init`` (load → filter → ``indices`` subset → serialise) the samples live in ONE numpy
byte array plus an offset array, not a list of dicts: dataloader workers fork with copy-on-write,
and touching millions of Python objects would copy every page they live on (refcounts), so a
list-of-dicts dataset grows each worker's memory to the dataset's size.

Example:
    >>> import json, os, tempfile
    >>> ann = os.path.join(tempfile.mkdtemp(), 'ann.json')
    >>> with open(ann, 'w') as f:
    ...     json.dump({'metainfo': {'classes': ['cat']}, 'data_list': [{'img_path': 'a.png'}]}, f)
    >>> ds = BaseDataset(ann_file=ann, data_prefix=dict(img_path='imgs'))
    >>> len(ds), ds[0]['img_path'], ds.metainfo['classes']
    (1, 'imgs/a.png', ['cat'])
"""

from __future__ import annotations

import copy
import functools
import gc
import logging
import os.path as osp
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from torch.utils.data import Dataset

from kiln.dataset.transforms import Compose
from kiln.errors import ConfigError
from kiln.fileio import join_path, list_from_file, load
from kiln.logging import print_log
from kiln.registry import DATASETS

__all__ = ["BaseDataset", "force_full_init"]

F = TypeVar("F", bound=Callable[..., Any])


def force_full_init(method: F) -> F:
    """Decorator for dataset methods that need the annotations: runs ``full_init()`` first if
    it has not run (with a warning: call it yourself to choose when the annotations load)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, "_fully_initialized", False):
            print_log(f"{type(self).__name__}.{method.__name__} called before full_init(): "
                      "initialising now. Call `full_init()` yourself to control when the "
                      "annotations load.", logger="current", level=logging.WARNING)
            self.full_init()
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _serialize(data: Any) -> np.ndarray:
    return np.frombuffer(pickle.dumps(data, protocol=4), dtype=np.uint8)


def _normalise_indices(indices: int | Sequence[int], length: int) -> list[int]:
    """int n ≥ 0: the first n; n < 0: the last |n|; a sequence: those indices, in order."""
    if isinstance(indices, bool) or not isinstance(indices, (int, Sequence)):
        raise TypeError(f"indices should be an int or a sequence of int, but got {type(indices).__name__}")
    if isinstance(indices, int):
        return list(range(min(indices, length))) if indices >= 0 \
            else list(range(max(0, length + indices), length))
    positions = range(length)
    try:
        return [positions[i] for i in indices]
    except IndexError:
        raise IndexError(f"indices {list(indices)} out of range for a dataset of {length} samples") from None
    except TypeError:
        raise TypeError(f"indices should be an int or a sequence of int, but got {list(indices)!r}") from None


@DATASETS.register_module()
class BaseDataset(Dataset):
    """An annotation-file dataset (see the module docstring).

    Args:
        ann_file: Annotation file (json/yaml/pickle), relative to ``data_root`` unless absolute.
        metainfo: Overrides of the class's ``METAINFO`` (per key); a str value naming an existing
            file is read as its list of lines.
        data_root: Joined onto a relative ``ann_file`` and ``data_prefix`` values.
        data_prefix: ``{key: prefix}``: ``parse_data_info`` joins the prefix onto each sample's key.
        filter_cfg: Read by subclasses' ``filter_data``.
        indices: Keep only these samples (see :meth:`get_subset_`) after filtering.
        serialize_data: Keep the samples as one byte array (module docstring).
        pipeline: Transforms applied by ``__getitem__`` (dict configs or callables).
        test_mode: A sample the pipeline drops is an error instead of being refetched.
        lazy_init: Defer loading the annotations until ``full_init()`` (or first use).
        max_refetch: Training: how many other random samples to try when the pipeline drops one.
    """

    METAINFO: dict = dict()
    _fully_initialized: bool = False

    def __init__(self, ann_file: str = "", metainfo: Mapping | None = None, data_root: str = "",
                 data_prefix: Mapping[str, str] | None = None, filter_cfg: Mapping | None = None,
                 indices: int | Sequence[int] | None = None, serialize_data: bool = True,
                 pipeline: Sequence[Mapping | Callable] = (), test_mode: bool = False,
                 lazy_init: bool = False, max_refetch: int = 1000) -> None:
        self.ann_file = ann_file
        self._metainfo = self._load_metainfo(metainfo)
        self.data_root = data_root
        self.data_prefix = dict(img_path="") if data_prefix is None else dict(data_prefix)
        self.filter_cfg = copy.deepcopy(filter_cfg)
        self._indices = indices
        self.serialize_data = serialize_data
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        self.data_list: list[dict] = []
        self.data_bytes: np.ndarray | None = None
        self.data_address: np.ndarray | None = None
        self._join_prefix()
        self.pipeline = Compose(pipeline)
        if not lazy_init:
            self.full_init()

    # -- metainfo and paths ------------------------------------------------------------------
    @classmethod
    def _load_metainfo(cls, metainfo: Mapping | None = None) -> dict:
        merged = copy.deepcopy(cls.METAINFO)
        if metainfo is None:
            return merged
        if not isinstance(metainfo, Mapping):
            raise TypeError(f"metainfo should be a Mapping or Config, but got {type(metainfo).__name__}")
        for key, value in copy.deepcopy(dict(metainfo)).items():
            merged[key] = list_from_file(value) if isinstance(value, str) and osp.isfile(value) else value
        return merged

    @property
    def metainfo(self) -> dict:
        """A deep copy of the dataset's metainfo (class ``METAINFO`` < file < constructor)."""
        return copy.deepcopy(self._metainfo)

    def _join_prefix(self) -> None:
        if self.ann_file and not osp.isabs(self.ann_file) and self.data_root:
            self.ann_file = join_path(self.data_root, self.ann_file)
        for key, prefix in self.data_prefix.items():
            if not isinstance(prefix, str):
                raise TypeError(f"data_prefix[{key!r}] should be a string, but got {type(prefix).__name__}")
            if not osp.isabs(prefix) and self.data_root:
                self.data_prefix[key] = join_path(self.data_root, prefix)

    # -- initialisation ----------------------------------------------------------------------
    def full_init(self) -> None:
        """Load, filter, subset and serialise the annotations (once; later calls do nothing)."""
        if self._fully_initialized:
            return
        self.data_list = self.load_data_list()
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._get_unserialized_subset(self._indices)
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()
        self._fully_initialized = True

    def load_data_list(self) -> list[dict]:
        """Read ``ann_file`` (``{'metainfo':..., 'data_list': [...]}``) into a list of sample dicts.

        The file's metainfo only fills keys the class and the constructor did not set.
        """
        if not self.ann_file:
            raise ConfigError("ann_file", f"{type(self).__name__} needs an annotation file (or a "
                                          "subclass overriding load_data_list)")
        annotations = load(self.ann_file)
        if not isinstance(annotations, dict):
            raise TypeError(f"The annotations loaded from annotation file {self.ann_file!r} should be "
                            f"a dict, but got {type(annotations).__name__}")
        if "data_list" not in annotations or "metainfo" not in annotations:
            raise ValueError(f"Annotation must have data_list and metainfo keys ({self.ann_file!r} "
                             f"has {sorted(annotations)})")
        for key, value in annotations["metainfo"].items():
            self._metainfo.setdefault(key, value)
        data_list: list[dict] = []
        for raw in annotations["data_list"]:
            info = self.parse_data_info(raw)
            if isinstance(info, dict):
                data_list.append(info)
            elif isinstance(info, list) and all(isinstance(i, dict) for i in info):
                data_list.extend(info)
            else:
                raise TypeError(f"parse_data_info should return a dict or a list of dicts, but got "
                                f"{type(info).__name__}")
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict | list[dict]:
        """One raw annotation → sample dict(s): by default, join ``data_prefix`` onto its keys."""
        for key, prefix in self.data_prefix.items():
            if key not in raw_data_info:
                raise KeyError(f"data_prefix names {key!r}, but the raw data info has only "
                               f"{sorted(raw_data_info)}")
            raw_data_info[key] = join_path(prefix, raw_data_info[key])
        return raw_data_info

    def filter_data(self) -> list[dict]:
        """Subclasses drop unwanted samples here (reading ``self.filter_cfg``); default: keep all."""
        return self.data_list

    def get_cat_ids(self, idx: int) -> list[int]:
        """Category ids in sample ``idx`` (needed by ``ClassBalancedDataset``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_cat_ids(idx) to be used "
                                  "with ClassBalancedDataset")

    # -- serialisation -----------------------------------------------------------------------
    def _serialize_data(self) -> tuple[np.ndarray, np.ndarray]:
        parts = [_serialize(x) for x in self.data_list]
        address = np.cumsum(np.asarray([len(p) for p in parts], dtype=np.int64))
        data_bytes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        self.data_list.clear()
        gc.collect()
        return data_bytes, address

    def _sample_bytes(self, idx: int) -> np.ndarray:
        start = 0 if idx == 0 else int(self.data_address[idx - 1])
        return self.data_bytes[start:int(self.data_address[idx])]

    # -- access ------------------------------------------------------------------------------
    @force_full_init
    def __len__(self) -> int:
        return len(self.data_address) if self.serialize_data else len(self.data_list)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """A fresh copy of sample ``idx``'s annotation, with ``sample_idx`` set."""
        idx = range(len(self))[idx]  # negative indices count from the end; IndexError if outside
        if self.serialize_data:
            # our own bytes, written by _serialize_data in this process: plain pickle is safe
            info = pickle.loads(memoryview(self._sample_bytes(idx)))
        else:
            info = copy.deepcopy(self.data_list[idx])
        info["sample_idx"] = idx
        return info

    def prepare_data(self, idx: int) -> Any:
        """The pipeline applied to sample ``idx`` (None if a transform dropped it)."""
        return self.pipeline(self.get_data_info(idx))

    @force_full_init
    def __getitem__(self, idx: int) -> Any:
        if self.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError(f"the test pipeline returned None for sample {idx}: test-time "
                                   "transforms must not drop samples")
            return data
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))  # dropped: try another sample
        raise RuntimeError(f"Cannot find valid image after {self.max_refetch} refetches: the pipeline "
                           "dropped every sample tried. Check the data paths and the pipeline")

    # -- subsets -----------------------------------------------------------------------------
    @force_full_init
    def get_subset_(self, indices: int | Sequence[int]) -> None:
        """Keep only ``indices`` (int n: the first n; -n: the last n; a list: those), in place."""
        if self.serialize_data:
            self.data_bytes, self.data_address = self._get_serialized_subset(indices)
        else:
            self.data_list = self._get_unserialized_subset(indices)

    @force_full_init
    def get_subset(self, indices: int | Sequence[int]) -> BaseDataset:
        """A copy holding only ``indices`` (see :meth:`get_subset_`); this dataset is unchanged."""
        sub = self._copy_without_annotation()
        if self.serialize_data:
            sub.data_bytes, sub.data_address = self._get_serialized_subset(indices)
        else:
            sub.data_list = self._get_unserialized_subset(indices)
        return sub

    def _get_unserialized_subset(self, indices: int | Sequence[int]) -> list[dict]:
        return [self.data_list[i] for i in _normalise_indices(indices, len(self.data_list))]

    def _get_serialized_subset(self, indices: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        positions = _normalise_indices(indices, len(self.data_address))
        parts = [self._sample_bytes(i) for i in positions]
        address = np.cumsum(np.asarray([len(p) for p in parts], dtype=np.int64))
        data_bytes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        return data_bytes, address

    def _copy_without_annotation(self) -> BaseDataset:
        """A deep copy of everything but the samples (which the caller replaces)."""
        sub = self.__class__.__new__(self.__class__)
        heavy = ("data_list", "data_bytes", "data_address")
        for key, value in self.__dict__.items():
            sub.__dict__[key] = None if key in heavy else copy.deepcopy(value)
        sub.data_list = []
        return sub
