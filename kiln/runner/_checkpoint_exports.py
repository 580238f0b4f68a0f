"""``kiln.runner.save_checkpoint``/``load_checkpoint``: MMEngine users import them from the runner
package. They are :mod:`kiln.checkpoint`'s functions (one code path); ``load_checkpoint`` first
reaches the user's model behind any wrapper, as MMEngine's does."""

from __future__ import annotations

from typing import Any

from torch import nn

from kiln.checkpoint import load_checkpoint as _load_checkpoint
from kiln.checkpoint import save_checkpoint
from kiln.model.wrappers.utils import unwrap_model

__all__ = ["save_checkpoint", "load_checkpoint"]


def load_checkpoint(model: nn.Module, filename: str, *args: Any, **kwargs: Any) -> dict:
    """:func:`kiln.checkpoint.load_checkpoint` into ``unwrap_model(model)`` (DDP/FSDP welcome)."""
    return _load_checkpoint(unwrap_model(model), filename, *args, **kwargs)
