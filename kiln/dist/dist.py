"""Collectives with MMEngine's names, thin over ``torch.distributed``; the identity in one process.

Tensors are moved to the group's communication device (CUDA for nccl) and results copied back,
so callers pass CPU tensors to an nccl group without thinking about it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as torch_dist

from kiln.dist.utils import get_comm_device, get_rank, get_world_size, is_distributed

__all__ = ["all_reduce", "all_reduce_dict", "all_reduce_mean", "all_gather", "gather", "broadcast",
           "broadcast_object", "broadcast_object_list", "all_gather_object", "gather_object",
           "sync_random_seed"]

_OPS = {"sum": "SUM", "product": "PRODUCT", "min": "MIN", "max": "MAX", "band": "BAND",
        "bor": "BOR", "bxor": "BXOR"}


def _reduce_op(op: str) -> Any:
    key = op.lower()
    if key != "mean" and key not in _OPS:
        raise ValueError(f"reduce op should be one of {[*_OPS, 'mean']}, but got {op!r}")
    return getattr(torch_dist.ReduceOp, _OPS.get(key, "SUM"))


def all_reduce(data: torch.Tensor, op: str = "sum", group: Any = None) -> None:
    """Reduce ``data`` in place over the group: sum/product/min/max/band/bor/bxor, or 'mean'.

    'mean' on an integer tensor floors (the sum is divided in place in the tensor's dtype).
    """
    reduce_op = _reduce_op(op)
    world = get_world_size(group)
    if world == 1:
        return
    comm = data.to(get_comm_device(group))
    torch_dist.all_reduce(comm, reduce_op, group=group)
    if op.lower() == "mean":
        if comm.is_floating_point() or comm.is_complex():
            comm.div_(world)
        else:
            comm.floor_divide_(world)
    if comm is not data:
        data.copy_(comm)


def all_reduce_dict(data: dict[str, torch.Tensor], op: str = "sum", group: Any = None) -> None:
    """Reduce every tensor of ``data`` in place with ONE collective (flattened in sorted key order)."""
    if get_world_size(group) == 1 or not data:
        return
    keys = sorted(data)
    flat = torch.cat([data[k].reshape(-1) for k in keys])
    all_reduce(flat, op, group)
    offset = 0
    for k in keys:
        n = data[k].numel()
        data[k].copy_(flat[offset:offset + n].view_as(data[k]))
        offset += n


def all_reduce_mean(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Average same-device tensors across ranks with ONE collective (flattened together).

    Returns new, detached tensors (inputs untouched); used for logging.
    """
    if not is_distributed() or not tensors:
        return [t.detach() for t in tensors]
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    all_reduce(flat, "mean")
    out, offset = [], 0
    for t in tensors:
        n = t.numel()
        out.append(flat[offset:offset + n].reshape(t.shape).to(t.dtype))
        offset += n
    return out


def all_gather(data: torch.Tensor, group: Any = None) -> list[torch.Tensor]:
    """Every rank's ``data`` (same shape on all ranks), in rank order, on ``data``'s device."""
    world = get_world_size(group)
    if world == 1:
        return [data]
    comm = data.to(get_comm_device(group))
    out = [torch.empty_like(comm) for _ in range(world)]
    torch_dist.all_gather(out, comm, group=group)
    return [t.to(data.device) for t in out]


def gather(data: torch.Tensor, dst: int = 0, group: Any = None) -> list[torch.Tensor]:
    """Every rank's ``data`` on rank ``dst`` (rank order); ``[]`` on the others."""
    world = get_world_size(group)
    if world == 1:
        return [data]
    comm = data.to(get_comm_device(group))
    out = [torch.empty_like(comm) for _ in range(world)] if get_rank(group) == dst else None
    torch_dist.gather(comm, out, dst=dst, group=group)
    return [t.to(data.device) for t in out] if out is not None else []


def broadcast(data: torch.Tensor, src: int = 0, group: Any = None) -> None:
    """Overwrite ``data`` in place with rank ``src``'s."""
    if get_world_size(group) == 1:
        return
    comm = data.to(get_comm_device(group))
    torch_dist.broadcast(comm, src=src, group=group)
    if comm is not data:
        data.copy_(comm)


def broadcast_object_list(data: list[Any], src: int = 0, group: Any = None) -> None:
    """Overwrite the items of ``data`` in place with rank ``src``'s (picklable objects)."""
    if get_world_size(group) == 1:
        return
    torch_dist.broadcast_object_list(data, src=src, group=group, device=_object_device(group))


def broadcast_object(obj: Any, src: int = 0, group: Any = None) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    box = [obj]
    broadcast_object_list(box, src, group)
    return box[0]


def all_gather_object(data: Any, group: Any = None) -> list[Any]:
    """Every rank's ``data`` (picklable), in rank order."""
    world = get_world_size(group)
    if world == 1:
        return [data]
    out: list[Any] = [None] * world
    torch_dist.all_gather_object(out, data, group=group)
    return out


def gather_object(data: Any, dst: int = 0, group: Any = None) -> list[Any] | None:
    """Every rank's ``data`` on rank ``dst`` (rank order); None on the others."""
    world = get_world_size(group)
    if world == 1:
        return [data]
    out: list[Any] | None = [None] * world if get_rank(group) == dst else None
    torch_dist.gather_object(data, out, dst=dst, group=group)
    return out


def sync_random_seed(group: Any = None) -> int:
    """A random seed drawn on rank 0 (from torch's RNG) and shared, so every rank samples the same
    permutation."""
    return int(broadcast_object(int(torch.randint(0, 2**31, ()).item()), 0, group))


def _object_device(group: Any) -> torch.device | None:
    # object collectives pickle into a byte tensor; nccl needs it on this rank's GPU
    return get_comm_device(group) if get_comm_device(group).type == "cuda" else None
