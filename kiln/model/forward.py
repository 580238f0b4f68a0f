"""The forward-call conventions shared by BaseModel and the distributed wrappers.

``forward(*data | **data, mode=...)`` with three modes; what each mode must return is checked
here, so that a model whose ``forward`` falls through a mode fails with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["MODES", "check_mode", "run_forward", "check_losses", "check_predictions"]

MODES = ("loss", "predict", "tensor")


def check_mode(mode: Any) -> None:
    """Raise a ValueError naming the three modes if ``mode`` is not one of them."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'loss' (dict of losses for train_step), 'predict' (list of results "
                         f"for val_step/test_step) or 'tensor' (raw outputs), but got {mode!r}")


def run_forward(model: nn.Module, data: Any, mode: str) -> Any:
    """Call ``model`` on preprocessed ``data``: ``**data`` for a dict, ``*data`` for a list/tuple.

    ``model`` may be a wrapper (DDP): calling it, not its ``module``, fires its forward hooks.
    """
    if mode not in MODES:
        check_mode(mode)  # raises, naming the modes
    if isinstance(data, dict):
        return model(**data, mode=mode)
    if isinstance(data, (list, tuple)):
        return model(*data, mode=mode)
    raise TypeError(f"the data preprocessor should return a list, tuple or dict (unpacked into forward), "
                    f"but returned {type(data).__name__}")


def check_losses(losses: Any, model: nn.Module) -> Mapping:
    """Return ``losses`` if it is a mapping; otherwise say what ``forward(mode='loss')`` returned."""
    if type(losses) is not dict and not isinstance(losses, Mapping):  # dict first: no ABC check
        name = type(model).__name__
        raise TypeError(f"{name}.forward(..., mode='loss') must return a dict of losses, but returned "
                        f"{type(losses).__name__}; does {name}.forward handle mode='loss'?")
    return losses


def check_predictions(outputs: Any, model: nn.Module) -> Any:
    """Return ``outputs`` unless ``forward(mode='predict')`` returned None (an unhandled mode)."""
    if outputs is None:
        name = type(model).__name__
        raise TypeError(f"{name}.forward(..., mode='predict') returned None; it should return the "
                        f"predictions (a list/tuple) for the evaluator. Does {name}.forward handle mode='predict'?")
    return outputs
