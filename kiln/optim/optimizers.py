"""Register every ``torch.optim`` optimizer in ``OPTIMIZERS`` under its class name.

So that ``dict(type='AdamW', lr=1e-3)`` works in configs without listing optimizers by hand;
new torch releases add theirs automatically.
"""

from __future__ import annotations

import inspect

import torch

from kiln.registry import OPTIMIZERS

__all__ = ["register_torch_optimizers", "TORCH_OPTIMIZERS"]


def register_torch_optimizers() -> list[str]:
    """Register each ``torch.optim.Optimizer`` subclass found in ``torch.optim``; return the names."""
    names = []
    for name in dir(torch.optim):
        obj = getattr(torch.optim, name)
        if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer:
            if OPTIMIZERS._module_dict.get(name) is None:
                OPTIMIZERS.register_module(module=obj)
            names.append(name)
    return names


TORCH_OPTIMIZERS = register_torch_optimizers()
