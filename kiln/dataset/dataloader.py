"""Build a DataLoader from the Runner's dataloader config, and restart one mid-epoch.

A dataloader config is MMEngine's dict: ``dataset`` (a dataset or a ``DATASETS`` config),
``sampler`` (a ``DATA_SAMPLERS`` config, default ``DefaultSampler(shuffle=False)``),
``batch_sampler``, ``collate_fn`` (a ``FUNCTIONS`` config, default ``pseudo_collate``),
``worker_init_fn``, ``num_batch_per_epoch`` and any other ``DataLoader`` keyword (``batch_size``,
``num_workers``, ...).

``num_batch_per_epoch=N`` (MMEngine's quick-debug knob) keeps only the FIRST ``N * batch_size *
world_size`` samples of the dataset, as MMEngine 0.10.7 does (observed: it slices the dataset, the
sampler still shuffles inside the slice), so every epoch, the loops' epoch length and a resume all
see N batches per rank.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, Sampler

from kiln.dataset.worker_exit import ExitWithParent, guard_workers
from kiln.dist import get_rank, get_world_size
from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.registry import DATA_SAMPLERS, DATASETS, FUNCTIONS, build_from_cfg

__all__ = ["build_dataloader", "SlicedDataset", "worker_init_fn", "find_sampler", "loader_batch_size",
           "skip_batches", "stop_workers"]


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int, sampler: Any = None) -> None:
    """Seed python/numpy/torch in a DataLoader worker from (seed, rank, epoch, worker_id).

    The epoch is read from the sampler as the worker sees it (set before the iterator started),
    so random augmentations differ between epochs yet replay identically after a resume.
    """
    epoch = int(getattr(sampler, "epoch", 0))
    worker_seed = (seed + epoch * 100_003 + rank * num_workers + worker_id) % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def _build_dataset(cfg: Any, path: str) -> Any:
    if isinstance(cfg, Mapping):
        dataset = build_from_cfg(cfg, DATASETS, path=path)
    else:
        dataset = cfg
    if hasattr(dataset, "full_init"):  # MMEngine's lazily initialised datasets
        dataset.full_init()
    return dataset


class SlicedDataset(torch.utils.data.Dataset):
    """The first ``length`` samples of ``dataset``; other attributes (``metainfo``...) pass through."""

    def __init__(self, dataset: Any, length: int) -> None:
        self.dataset = dataset
        self._length = min(length, len(dataset))

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        if not -self._length <= index < self._length:
            raise IndexError(f"index {index} out of range for the first {self._length} samples")
        return self.dataset[index % self._length]

    def __len__(self) -> int:
        return self._length


def _num_batch_per_epoch(cfg: dict[str, Any], path: str) -> int | None:
    value = cfg.pop("num_batch_per_epoch", None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{path}.num_batch_per_epoch", f"expected a positive int (batches per epoch), "
                                                         f"but got {value!r}")
    return value


def _cfg_batch_size(cfg: Mapping[str, Any]) -> int:
    batch_sampler = cfg.get("batch_sampler")
    if isinstance(batch_sampler, Mapping) and "batch_size" in batch_sampler:
        return int(batch_sampler["batch_size"])
    return int(cfg.get("batch_size", 1) or 1)


def build_dataloader(cfg: Mapping[str, Any] | DataLoader, seed: int | None = None,
                     diff_rank_seed: bool = False, path: str = "dataloader") -> DataLoader:
    """Build a ``DataLoader`` from ``cfg`` (a ready ``DataLoader`` is returned as is).

    Args:
        cfg: The dataloader config (see the module docstring).
        seed: The run's seed: default for the sampler's shuffle seed and the workers' seeds.
        diff_rank_seed: Give each rank a different sampler seed (``randomness.diff_rank_seed``).
        path: Config path used in error messages (``'train_dataloader'``).
    """
    if isinstance(cfg, DataLoader):
        return guard_workers(cfg)  # the user's loader as it is, but no worker outlives this process
    if not isinstance(cfg, Mapping):
        raise ConfigError(path, f"expected a torch DataLoader or a dict, but got {type(cfg).__name__}")
    cfg = dict(cfg)
    if "dataset" not in cfg:
        raise ConfigError(path, f"a dataloader dict needs a 'dataset' (a dataset or a dataset "
                                f"config), but got keys {sorted(cfg)}")
    num_batches = _num_batch_per_epoch(cfg, path)
    dataset = _build_dataset(cfg.pop("dataset"), f"{path}.dataset")
    if num_batches is not None:
        dataset = SlicedDataset(dataset, num_batches * _cfg_batch_size(cfg) * get_world_size())
    sampler_seed = None if seed is None else seed + (get_rank() if diff_rank_seed else 0)

    sampler_cfg = cfg.pop("sampler", dict(type="DefaultSampler", shuffle=False))
    if isinstance(sampler_cfg, Mapping):
        sampler_cfg = dict(sampler_cfg)
        sampler_type = DATA_SAMPLERS.resolve(sampler_cfg.get("type"), f"{path}.sampler.type")
        if sampler_type in (DATA_SAMPLERS.get("DefaultSampler"), DATA_SAMPLERS.get("InfiniteSampler")):
            sampler_cfg.setdefault("seed", sampler_seed)
        sampler = build_from_cfg(sampler_cfg, DATA_SAMPLERS, dict(dataset=dataset), path=f"{path}.sampler")
    else:
        sampler = sampler_cfg

    batch_sampler_cfg = cfg.pop("batch_sampler", None)
    if isinstance(batch_sampler_cfg, Mapping):
        batch_size = cfg.pop("batch_size", 1)
        batch_sampler = build_from_cfg(batch_sampler_cfg, DATA_SAMPLERS,
                                       dict(sampler=sampler, batch_size=batch_size),
                                       path=f"{path}.batch_sampler")
    else:
        batch_sampler = batch_sampler_cfg

    collate_cfg = cfg.pop("collate_fn", dict(type="pseudo_collate"))
    if isinstance(collate_cfg, Mapping):
        collate_cfg = dict(collate_cfg)
        collate_fn = FUNCTIONS.resolve(collate_cfg.pop("type", None), f"{path}.collate_fn.type")
        collate_fn = functools.partial(collate_fn, **collate_cfg) if collate_cfg else collate_fn
    else:
        collate_fn = collate_cfg

    init_fn = cfg.pop("worker_init_fn", None)
    num_workers = int(cfg.get("num_workers", 0))
    if isinstance(init_fn, Mapping):
        init_cfg = dict(init_fn)
        init_fn = functools.partial(FUNCTIONS.resolve(init_cfg.pop("type", None), f"{path}.worker_init_fn.type"),
                                    **init_cfg)
    elif init_fn is None and seed is not None and num_workers > 0:
        init_fn = functools.partial(worker_init_fn, num_workers=num_workers, rank=get_rank(),
                                    seed=seed, sampler=sampler)
    if num_workers > 0:  # a worker must not outlive a killed main process (kiln.dataset.worker_exit)
        init_fn = ExitWithParent(init_fn)

    dataset = _seeded(dataset, seed, _epoch_sampler(sampler, batch_sampler))
    try:
        return DataLoader(dataset=dataset, sampler=None if batch_sampler is not None else sampler,
                          batch_sampler=batch_sampler, collate_fn=collate_fn,
                          worker_init_fn=init_fn, **cfg)
    except TypeError as exc:
        raise ConfigError(path, f"DataLoader rejected the arguments: {exc}") from exc


def _seeded(dataset: Any, seed: int | None, sampler: Any) -> Any:
    """Map-style datasets get per-sample worker seeds and index-naming errors (:mod:`kiln.dataset.seeded`)."""
    if isinstance(dataset, IterableDataset) or not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        return dataset
    from kiln.dataset.seeded import SeededSamples

    return SeededSamples(dataset, seed, sampler)


def _epoch_sampler(sampler: Any, batch_sampler: Any) -> Any:
    """The index sampler that knows the epoch: ``sampler`` or the one inside ``batch_sampler``."""
    inner = getattr(batch_sampler, "sampler", None)
    return sampler if hasattr(sampler, "set_epoch") or inner is None else inner


def stop_workers(iterator: Any, loader: Any = None) -> None:
    """Shut down the worker processes of a DataLoader iterator (and of a persistent one)."""
    persistent = getattr(loader, "_iterator", None)
    for it in (iterator, persistent):
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
    if persistent is not None:
        loader._iterator = None  # a later pass starts fresh workers


def find_sampler(loader: Any) -> Sampler | None:
    """The loader's index sampler that knows epochs (``set_epoch``), or its plain sampler."""
    candidates = [getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    for sampler in candidates:
        if hasattr(sampler, "set_epoch"):
            return sampler
    return candidates[0]


def loader_batch_size(loader: Any) -> int:
    """Samples per batch of ``loader`` (from ``batch_size`` or its batch sampler)."""
    size = getattr(loader, "batch_size", None)
    if size is None:
        size = getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    return int(size or 1)


class _SkipFirst:
    """A batch sampler that drops its first ``n`` batches of index lists (no data is loaded)."""

    def __init__(self, batch_sampler: Iterable[list[int]], n: int) -> None:
        self.batch_sampler = batch_sampler
        self.n = n

    def __iter__(self) -> Iterator[list[int]]:
        iterator = iter(self.batch_sampler)
        for _ in range(self.n):
            next(iterator, None)
        return iterator

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.n, 0)  # type: ignore[arg-type]


def skip_batches(loader: Any, n: int) -> Iterable[Any]:
    """An iterable over ``loader`` that starts at batch ``n``, skipping at the index level.

    With a kiln sampler (``skip``) the sampler starts at the right index and the loader is
    returned unchanged. Otherwise, for a map-style loader, a one-off loader with the same
    settings draws from the original batch sampler, dropping the first ``n`` index lists. Only
    kiln's samplers reproduce the shuffle order of the interrupted epoch (torch's
    ``RandomSampler`` draws a new permutation from the global RNG).
    """
    if n <= 0:
        return loader
    sampler = find_sampler(loader)
    batch_sampler = getattr(loader, "batch_sampler", None)
    if hasattr(sampler, "skip") and getattr(batch_sampler, "sampler", None) is sampler:
        sampler.skip(n * loader_batch_size(loader))
        return loader
    if batch_sampler is None or not isinstance(loader, DataLoader):
        print_log(f"Cannot skip {n} batches at the index level for {type(loader).__name__}; "
                  "loading and dropping them instead.", logger="current", level=30)
        iterator = iter(loader)
        for _ in range(n):
            next(iterator, None)
        return iterator
    if hasattr(sampler, "generator") and not hasattr(sampler, "skip"):
        print_log("Resuming mid-epoch with a sampler that shuffles from the global RNG: the "
                  "remaining batches of this epoch may differ from the interrupted run. Use "
                  "sampler=dict(type='DefaultSampler', shuffle=True) for an exact resume.",
                  logger="current", level=30)
    return DataLoader(
        loader.dataset, batch_sampler=_SkipFirst(batch_sampler, n), num_workers=loader.num_workers,
        collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn, multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
    )
