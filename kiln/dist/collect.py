"""Gather per-rank evaluation results into one list, in dataset order, without padding.

A distributed sampler gives rank ``r`` the samples ``r, r + world, r + 2*world, ...`` and pads
the last round with repeats so that every rank gets the same count. Interleaving the parts
round-robin restores dataset order; truncating to the dataset size drops the padding.

By default parts travel through the process group (``all_gather_object``), so no shared
filesystem is needed (MMEngine's default temp-dir collection fails across nodes: its issue #557).
Giving ``tmpdir`` selects the file-based path (each rank pickles its part there; rank 0 reads).
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from itertools import zip_longest
from typing import Any

import torch

from kiln.dist import utils as dist
from kiln.dist.dist import all_gather_object

__all__ = ["collect_results", "to_cpu", "interleave"]

_MISSING = object()


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor inside (dicts, lists, tuples, data elements) moved to CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        out = {k: to_cpu(v) for k, v in obj.items()}
        return OrderedDict(out) if isinstance(obj, OrderedDict) else out
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_cpu(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    if callable(getattr(obj, "cpu", None)):  # e.g. a data element
        return obj.cpu()
    return obj


def interleave(parts: list[list[Any]], size: int) -> list[Any]:
    """Round-robin merge of per-rank parts (rank order), truncated to ``size``."""
    merged = [item for group in zip_longest(*parts, fillvalue=_MISSING)
              for item in group if item is not _MISSING]
    return merged[:size]


def _collect_by_files(results: list, tmpdir: str) -> list[list] | None:
    """Each rank pickles its part into ``tmpdir`` (shared by all ranks); rank 0 reads them all."""
    rank, world = dist.get_rank(), dist.get_world_size()
    os.makedirs(tmpdir, exist_ok=True)
    with open(os.path.join(tmpdir, f"part_{rank}.pkl"), "wb") as f:
        pickle.dump(results, f, protocol=2)
    dist.barrier()
    parts = None
    if rank == 0:
        parts = []
        for i in range(world):
            path = os.path.join(tmpdir, f"part_{i}.pkl")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} is missing: collect_dir={tmpdir!r} must be a directory "
                                        "every rank can see (a shared filesystem); leave collect_dir "
                                        "unset to gather through the process group instead")
            with open(path, "rb") as f:
                parts.append(pickle.load(f))
    dist.barrier()  # rank 0 has read every part before anyone moves on (and may clean up)
    if rank == 0:
        for i in range(world):
            os.remove(os.path.join(tmpdir, f"part_{i}.pkl"))
    return parts


def collect_results(results: list, size: int, device: str = "cpu",
                    tmpdir: str | None = None) -> list | None:
    """All ranks' ``results`` on rank 0 (in dataset order, padding dropped); None on other ranks.

    Args:
        results: This rank's results.
        size: Dataset size; the merged list is truncated to it.
        device: ``'cpu'`` (tensors moved to CPU before sending) or ``'gpu'`` (sent as they are).
        tmpdir: A directory shared by all ranks: selects the file-based collection.
    """
    if device not in ("cpu", "gpu", "cuda"):
        raise ValueError(f"collect_device must be 'cpu' or 'gpu', but got {device!r} (kiln has no "
                         "npu/mlu support)")
    if dist.get_world_size() == 1:
        return results[:size]
    if device == "cpu":
        results = to_cpu(results)
    if tmpdir is not None:
        if device != "cpu":
            raise ValueError("tmpdir (collect_dir) can only be used with device='cpu'")
        parts = _collect_by_files(results, tmpdir)
    else:
        gathered = all_gather_object(results)
        parts = gathered if dist.is_main_process() else None
    if parts is None:
        return None
    return interleave(parts, size)
