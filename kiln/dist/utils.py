"""Process-group facts (rank, world size, local rank, backend, devices) that work without one.

Every helper is the single-process answer (rank 0, world size 1, ...) when no process group is
initialised, so library code calls them unconditionally instead of sprinkling
``if dist.is_initialized()`` everywhere.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

from kiln import device as _device

__all__ = [
    "is_distributed", "get_rank", "get_world_size", "get_dist_info", "get_local_rank",
    "get_local_size", "get_local_group", "init_local_group", "get_default_group", "get_backend",
    "is_main_process", "master_only", "barrier", "get_comm_device", "get_data_device", "get_device",
]

F = TypeVar("F", bound=Callable[..., Any])
_LOCAL_GROUP: Any = None


def is_distributed() -> bool:
    """True when a default process group is initialised."""
    return torch_dist.is_available() and torch_dist.is_initialized()


def get_default_group() -> Any:
    return torch_dist.distributed_c10d._get_default_group() if is_distributed() else None


def get_backend(group: Any = None) -> str | None:
    """The process group's backend ('gloo', 'nccl', ...), None when not distributed."""
    return torch_dist.get_backend(group) if is_distributed() else None


def get_rank(group: Any = None) -> int:
    return torch_dist.get_rank(group) if is_distributed() else 0


def get_world_size(group: Any = None) -> int:
    return torch_dist.get_world_size(group) if is_distributed() else 1


def get_dist_info(group: Any = None) -> tuple[int, int]:
    """``(rank, world_size)`` — rank first, as in MMEngine."""
    return get_rank(group), get_world_size(group)


def init_local_group(node_rank: int, num_gpus_per_node: int) -> None:
    """Create the process group of this node's ranks (needed for local rank/size collectives)."""
    global _LOCAL_GROUP
    ranks = list(range(node_rank * num_gpus_per_node, (node_rank + 1) * num_gpus_per_node))
    _LOCAL_GROUP = torch_dist.new_group(ranks)


def get_local_group() -> Any:
    if _LOCAL_GROUP is None:
        raise RuntimeError("Local process group is not created, please use `init_local_group` to "
                           "setup local process group.")
    return _LOCAL_GROUP


def _local(env: str, group_fn: Callable[[Any], int]) -> int:
    if not is_distributed():
        return 0 if env == "LOCAL_RANK" else 1
    if _LOCAL_GROUP is not None:
        return group_fn(_LOCAL_GROUP)
    if env in os.environ:  # torchrun / kiln's launchers export these
        return int(os.environ[env])
    raise RuntimeError(f"Local process group is not created and ${env} is not set: use "
                       "`init_local_group(node_rank, num_gpus_per_node)` or launch with torchrun")


def get_local_rank() -> int:
    """This process's rank within its node (the local group's, else ``$LOCAL_RANK``)."""
    return _local("LOCAL_RANK", torch_dist.get_rank)


def get_local_size() -> int:
    """Processes on this node (the local group's size, else ``$LOCAL_WORLD_SIZE``)."""
    return _local("LOCAL_WORLD_SIZE", torch_dist.get_world_size)


def is_main_process(group: Any = None) -> bool:
    return get_rank(group) == 0


def master_only(func: F) -> F:
    """Run ``func`` on rank 0 only (returns None elsewhere; no barrier)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if is_main_process():
            return func(*args, **kwargs)
        return None

    return wrapper  # type: ignore[return-value]


def barrier(group: Any = None) -> None:
    if is_distributed():
        torch_dist.barrier(group)


def get_comm_device(group: Any = None) -> torch.device:
    """Where tensors must be for the group's collectives: this rank's GPU for nccl, else CPU."""
    if get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def get_data_device(data: Any) -> torch.device:
    """The device of a tensor, or of the tensors in a (non-empty) list/dict (must agree)."""
    if isinstance(data, torch.Tensor):
        return data.device
    values = list(data.values()) if isinstance(data, dict) else list(data)
    devices = {get_data_device(v) for v in values}
    if len(devices) != 1:
        raise ValueError(f"data must be on one device, but got {sorted(map(str, devices))}")
    return devices.pop()


def get_device() -> torch.device:
    """The device this rank should use: its CUDA device, else MPS, else CPU."""
    kind = _device.get_device()
    return torch.device("cuda", torch.cuda.current_device()) if kind == "cuda" else torch.device(kind)
