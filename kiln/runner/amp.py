"""``autocast``: mixed precision for code that MMEngine users wrote against ``mmengine.runner.autocast``."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["autocast"]


def autocast(device_type: str | None = None, dtype: torch.dtype | None = None, enabled: bool = True,
             cache_enabled: bool | None = None) -> Any:
    """``torch.autocast`` on the run's device by default (``kiln.dist.get_device()``).

    Args:
        device_type: ``'cuda'``, ``'cpu'``, ...; None = the device kiln trains on.
        dtype: The autocast dtype; None = torch's default for the device (float16 on CUDA,
            bfloat16 on CPU).
        enabled: False gives a context that changes nothing.
        cache_enabled: Passed to ``torch.autocast`` when given.

    Example:
        >>> with autocast(device_type='cpu'):
        ...     y = torch.nn.Linear(2, 2)(torch.ones(1, 2))
        >>> y.dtype
        torch.bfloat16
    """
    if device_type is None:
        from kiln.dist import get_device

        device_type = get_device().type
    kwargs: dict[str, Any] = {"enabled": enabled}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if cache_enabled is not None:
        kwargs["cache_enabled"] = cache_enabled
    return torch.autocast(device_type=device_type, **kwargs)
