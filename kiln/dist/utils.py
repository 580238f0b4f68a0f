"""Thin helpers over ``torch.distributed`` that also work in a single, non-distributed process.

Every helper is a no-op (or the identity) when no process group is initialised, so library code
calls them unconditionally instead of sprinkling ``if dist.is_initialized()`` everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "master_only",
    "barrier",
    "broadcast_object",
    "all_gather_object",
    "all_reduce_mean",
    "get_device",
]

F = TypeVar("F", bound=Callable[..., Any])


def is_distributed() -> bool:
    """True when a default process group is initialised."""
    return torch_dist.is_available() and torch_dist.is_initialized()


def get_rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def master_only(func: F) -> F:
    """Run ``func`` on rank 0 only (returns None elsewhere)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if is_main_process():
            return func(*args, **kwargs)
        return None

    return wrapper  # type: ignore[return-value]


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Return rank ``src``'s ``obj`` on every rank (picklable objects)."""
    if not is_distributed():
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    torch_dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Average same-shaped tensors across ranks with ONE collective (they are flattened together).

    Returns new tensors; inputs are not modified. Used for logging, so the result is detached.
    """
    if not is_distributed() or not tensors:
        return [t.detach() for t in tensors]
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    torch_dist.all_reduce(flat)
    flat /= get_world_size()
    out, offset = [], 0
    for t in tensors:
        n = t.numel()
        out.append(flat[offset:offset + n].reshape(t.shape).to(t.dtype))
        offset += n
    return out


def get_device() -> torch.device:
    """The accelerator this process should use: CUDA (this rank's), MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
