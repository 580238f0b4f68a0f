"""MMEngine's small checkpoint helpers (``mmengine.runner.get_state_dict``, ``weights_to_cpu``,
``find_latest_checkpoint``, ``CheckpointLoader``), over kiln's ONE safe loader.

``CheckpointLoader.load_checkpoint`` reads with ``weights_only=True`` like every other route
(local paths and http(s) URLs); MMEngine's pluggable schemes (``open-mmlab://``, ``s3://``, ...)
are not offered, because each would be a second, unaudited loading path.
"""

from __future__ import annotations

import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from kiln.checkpoint.loading import load_checkpoint_file

__all__ = ["get_state_dict", "weights_to_cpu", "find_latest_checkpoint", "CheckpointLoader"]


def get_state_dict(module: nn.Module, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
    """``module``'s state dict without DDP/FSDP ``module.`` prefixes (wrappers are looked through)."""
    while hasattr(module, "module") and isinstance(module.module, nn.Module):
        module = module.module
    return module.state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)


def weights_to_cpu(state_dict: Mapping[str, Any]) -> OrderedDict:
    """A copy of ``state_dict`` with every tensor on the CPU (``_metadata`` kept, for loading)."""
    out = OrderedDict((k, v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in state_dict.items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def find_latest_checkpoint(path: str) -> str | None:
    """The checkpoint named in ``path/last_checkpoint`` (what ``resume=True`` uses), or None."""
    record = osp.join(path, "last_checkpoint")
    if not osp.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return f.read().strip() or None


class CheckpointLoader:
    """``CheckpointLoader.load_checkpoint(filename)``: MMEngine's entry point, kiln's safe loader."""

    @classmethod
    def load_checkpoint(cls, filename: str | os.PathLike, map_location: Any = None,
                        logger: Any = "current") -> dict:
        """Read a local or http(s) checkpoint with ``weights_only=True`` (MMEngine files inertly)."""
        return load_checkpoint_file(filename, map_location=map_location, log=logger != "silent")

    @classmethod
    def register_scheme(cls, prefixes: str | list[str], loader: Callable | None = None,
                        force: bool = False) -> Callable:
        """Not supported: kiln has one loader (local paths, http(s)); see the module docstring."""
        raise NotImplementedError(
            f"CheckpointLoader.register_scheme({prefixes!r}): kiln reads checkpoints through one safe "
            "loader (local paths and http(s) URLs, weights_only=True) and does not take extra schemes. "
            "Download or mount the file and pass its local path instead.")
