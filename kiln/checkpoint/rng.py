"""Snapshot and restore every random number generator a training run uses.

Exact resume needs the RNGs to continue where they stopped: Python's ``random``, numpy's global
generator, torch's CPU generator and every initialised CUDA device's generator. The snapshot
holds only tensors, ints, strings and tuples, so it can go into a ``weights_only`` checkpoint.

DataLoader worker seeds derive from torch's CPU generator (one draw per iterator creation), so
restoring that generator also restores worker seeding; :func:`preserved_rng` lets a loop create
a resumed iterator without that extra draw, so the run continues bitwise as if uninterrupted.

Example:
    >>> import torch
    >>> from kiln.checkpoint.rng import rng_state, set_rng_state
    >>> state = rng_state()
    >>> a = torch.rand(2)
    >>> set_rng_state(state)
    >>> torch.equal(a, torch.rand(2))
    True
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["rng_state", "set_rng_state", "preserved_rng"]


def rng_state() -> dict[str, Any]:
    """The current state of the python, numpy, torch CPU and CUDA generators (plain types)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`rng_state` (missing entries are left as they are)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    if "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    if "torch" in state:  # a checkpoint loaded with map_location='cuda' brings these on the GPU
        torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        count = min(len(cuda), torch.cuda.device_count())
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda[:count]])


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing any generator's state (e.g. creating a resumed data iterator)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
