"""Read only this rank's shards of a checkpoint, for ``Pretrained`` on an FSDP2 (DTensor) model.

A model sharded before ``init_weights()`` (the meta-device path) must never hold the full state
dict on one rank. For each DTensor in the module's state dict, this reads the slice this rank
owns (the offsets DCP uses, from ``compute_local_shape_and_global_offset``) and wraps it as a
DTensor with the parameter's placements; plain tensors (buffers) are read whole.

- ``.safetensors``: ``safe_open`` + ``get_slice``: only the shard's bytes are read.
- other files (``.pth``): ``torch.load(mmap=True, weights_only=True)`` maps the file instead of
  reading it, and only the shard is copied out, so pages of other ranks' rows are never touched
  (for the usual ``Shard(0)`` the rows are contiguous). Files in torch's legacy (non-zip) format
  cannot be mapped: they are refused with how to convert them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from kiln.errors import CheckpointError

__all__ = ["has_dtensor_params", "read_local_shards", "check_readable"]


def _dtensor_type() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed
        return None
    return DTensor


def has_dtensor_params(module: nn.Module) -> bool:
    """True when ``module`` holds sharded (DTensor) parameters (FSDP2 before init)."""
    dtensor = _dtensor_type()
    return dtensor is not None and any(isinstance(p, dtensor) for p in module.parameters())


def _is_safetensors(path: str) -> bool:
    return path.endswith(".safetensors")


def _local_path(checkpoint: str) -> str:
    from kiln.checkpoint.download import download_checkpoint, is_url

    return download_checkpoint(checkpoint) if is_url(checkpoint) else checkpoint


def _open_pth(path: str) -> dict[str, Any]:
    from kiln.checkpoint.loading import unwrap_state_dict
    from kiln.checkpoint.mmengine_compat import convert_foreign, mmengine_safe_globals

    try:
        with mmengine_safe_globals():
            ckpt = convert_foreign(torch.load(path, map_location="cpu", mmap=True, weights_only=True))
    except RuntimeError as exc:
        if "mmap" in str(exc) or "zip" in str(exc):
            raise CheckpointError(
                f"checkpoint {path!r} is in torch's legacy format, which cannot be memory-mapped to "
                "read one shard: re-save it with torch.save (zip format) or as .safetensors") from exc
        raise
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"checkpoint {path!r} holds a {type(ckpt).__name__}, expected a dict")
    return unwrap_state_dict(ckpt)


def check_readable(checkpoint: str) -> None:
    """Open the file cheaply (no tensor data read) so a bad path fails before any weight changes."""
    path = _local_path(checkpoint)
    if _is_safetensors(path):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            f.keys()
    else:
        _open_pth(path)


def _key_map(keys: Any, prefix: str | None) -> dict[str, str]:
    """Module key → checkpoint key (``module.`` stripped, ``prefix.`` selected)."""
    out = {}
    for key in keys:
        name = key[len("module."):] if key.startswith("module.") else key
        if prefix is not None:
            if not name.startswith(prefix + "."):
                continue
            name = name[len(prefix) + 1:]
        out[name] = key
    return out


def read_local_shards(module: nn.Module, checkpoint: str, prefix: str | None = None) -> dict[str, Any]:
    """The state dict for ``module`` with each DTensor entry holding only this rank's slice.

    Keys the checkpoint has but the module lacks are kept (as shapes only, for the mismatch
    report), so ``load_state_dict`` reports them as unexpected without their data being read.
    """
    path = _local_path(checkpoint)
    if _is_safetensors(path):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            return _read(module, _key_map(f.keys(), prefix), f.get_slice, f.get_tensor,
                         lambda s: list(s.get_shape()))
    state = _open_pth(path)
    return _read(module, _key_map(state.keys(), prefix), state.__getitem__, state.__getitem__,
                 lambda t: list(t.shape) if isinstance(t, torch.Tensor) else None)


def _read(module: nn.Module, keys: dict[str, str], get_slice: Callable[[str], Any],
          get_full: Callable[[str], Any], shape_of: Callable[[Any], Any]) -> dict[str, Any]:
    from torch.distributed.tensor import DTensor
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    own = module.state_dict(keep_vars=True)
    out: dict[str, Any] = {}
    for name, ckey in keys.items():
        handle, target = get_slice(ckey), own.get(name)
        shape = shape_of(handle)
        if target is None or shape != list(target.shape):  # unexpected or mismatched: reported, never read
            out[name] = torch.empty(shape or (), device="meta")
        elif not isinstance(target, DTensor):  # buffers and unsharded parameters: small, read whole
            out[name] = get_full(ckey)
        else:
            local_shape, offset = compute_local_shape_and_global_offset(
                target.shape, target.device_mesh, target.placements)
            index = tuple(slice(o, o + n) for o, n in zip(offset, local_shape))
            local = handle[index].to(device=target.device, dtype=target.dtype).contiguous()
            out[name] = DTensor.from_local(local, target.device_mesh, target.placements, run_check=False,
                                           shape=target.shape, stride=target.stride())
    return out
