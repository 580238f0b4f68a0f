"""Resumable samplers: the shuffle order depends only on (seed, epoch), and a resumed run starts
mid-epoch by skipping INDICES, so the data of already-seen batches is never loaded.

MMEngine replays the data loader from batch 0 on resume (loading every skipped batch). Here the
train loop tells the sampler the position to start from (``skip``), once; the DataLoader, its
workers included, then only ever sees the remaining indices. Distributed runs shard the padded
index list ``rank::world_size`` (what ``BaseMetric`` expects when it interleaves results back).

Example:
    >>> s = DefaultSampler(range(10), shuffle=False)
    >>> s.skip(4)
    >>> list(s)
    [4, 5, 6, 7, 8, 9]
    >>> list(s)  # the skip applies once: the next epoch starts from the beginning
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler

from kiln.dist import get_rank, get_world_size
from kiln.registry import DATA_SAMPLERS

__all__ = ["DefaultSampler", "InfiniteSampler"]


def _shared_seed(seed: int | None) -> int:
    """Every rank must shuffle with the same seed: take rank 0's (a random one if None)."""
    if seed is not None:
        return int(seed)
    from kiln.dist import sync_random_seed

    return sync_random_seed()


class _ResumableSampler(Sampler[int]):
    """Shared bookkeeping: seed, epoch, and a one-shot start offset.

    The train loop owns progress (``kiln.runner.loop_state``): it calls ``set_epoch`` when a pass
    starts and, on a resumed pass only, ``skip`` with the samples of this rank's shard already
    consumed. The sampler never reports progress back.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None) -> None:
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.seed = _shared_seed(seed)
        self.rank = get_rank()
        self.world_size = get_world_size()
        self.epoch = 0
        self._start = 0

    def _permutation(self, epoch: int) -> list[int]:
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        generator = torch.Generator()
        generator.manual_seed(self.seed + epoch)  # depends only on (seed, epoch)
        return torch.randperm(n, generator=generator).tolist()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next ``__iter__`` yields (the train loop calls it)."""
        self.epoch = int(epoch)

    def skip(self, position: int) -> None:
        """Start the next ``__iter__`` at sample ``position`` of this rank's shard (once)."""
        if position < 0:
            raise ValueError(f"position must be >= 0, but got {position}")
        self._start = int(position)

    def state_dict(self) -> dict[str, Any]:
        """The seed (rank 0's random one when None was given): the order of every epoch follows."""
        return {"seed": self.seed, "shuffle": self.shuffle}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("seed") is not None:
            self.seed = int(state["seed"])

    def _take_start(self) -> int:
        start, self._start = self._start, 0
        return start


@DATA_SAMPLERS.register_module()
class DefaultSampler(_ResumableSampler):
    """Finite sampler for epoch-based training, distributed-aware (MMEngine's ``DefaultSampler``).

    Args:
        dataset: The dataset (only its length is used).
        shuffle: Shuffle each epoch with a permutation seeded by ``seed + epoch``.
        seed: Shuffle seed, identical on every rank (rank 0's random one when None).
        round_up: Pad the index list by repeating it so every rank gets the same number of
            samples (the padding is trimmed again by the evaluator); False drops nothing and
            gives ranks uneven shards.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None,
                 round_up: bool = True) -> None:
        super().__init__(dataset, shuffle, seed)
        self.round_up = round_up
        n = len(dataset)
        if round_up:
            self.num_samples = math.ceil(n / self.world_size)
            self.total_size = self.num_samples * self.world_size
        else:
            self.num_samples = math.ceil((n - self.rank) / self.world_size)
            self.total_size = n

    def _indices(self) -> list[int]:
        indices = self._permutation(self.epoch)
        if self.round_up and self.total_size > len(indices):
            repeats = math.ceil(self.total_size / max(len(indices), 1))
            indices = (indices * repeats)[: self.total_size]
        return indices[self.rank:self.total_size:self.world_size]

    def __iter__(self) -> Iterator[int]:
        start = self._take_start()
        return iter(self._indices()[start:])

    def __len__(self) -> int:
        return self.num_samples


@DATA_SAMPLERS.register_module()
class InfiniteSampler(_ResumableSampler):
    """Endless sampler for iteration-based training: pass p is the permutation for ``seed + p``.

    ``position`` counts samples of this rank since the start of training, so an iteration-based
    run resumes at batch ``iter`` exactly.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None) -> None:
        super().__init__(dataset, shuffle, seed)
        self.size = len(dataset)

    def _shard(self, pass_idx: int) -> list[int]:
        return self._permutation(pass_idx)[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        start = self._take_start()
        per_pass = len(self._shard(0)) if self.size else 0
        if per_pass == 0:
            return iter(())
        first_pass, offset = divmod(start, per_pass)

        def generate() -> Iterator[int]:
            for pass_idx in itertools.count(first_pass):
                shard = self._shard(pass_idx)
                yield from shard[offset:] if pass_idx == first_pass else shard

        return generate()

    def __len__(self) -> int:
        return self.size
