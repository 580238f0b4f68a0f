"""THE training step (and the predict step), shared by BaseModel and every model wrapper.

``train_step`` reads like nanoGPT's loop body: preprocess → forward (inside the optim wrapper's
context: autocast, and no gradient sync on accumulation steps) → losses → backward/step/zero_grad.
A wrapper (DDP, FSDP1, FSDP2) passes itself as ``wrapper``: the forward then runs through it, so
its hooks fire (DDP's gradient all-reduce, FSDP's parameter all-gather), while preprocessing and
loss parsing stay the user's model's.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from kiln.model import BaseModel
    >>> from kiln.optim import OptimWrapper
    >>> class Net(BaseModel):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(2, 1)
    ...     def forward(self, x, y, mode='tensor'):
    ...         return {'loss': ((self.fc(x) - y) ** 2).mean()}
    >>> net = Net()
    >>> wrapper = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1))
    >>> list(train_step(net, (torch.ones(4, 2), torch.zeros(4, 1)), wrapper))
    ['loss']
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

from kiln.model.forward import check_losses, check_predictions, run_forward

__all__ = ["train_step", "predict_step", "compile_steps"]


def train_step(model: nn.Module, data: Any, optim_wrapper: Any, wrapper: nn.Module | None = None,
               detect_anomalous_params: bool = False) -> OrderedDict:
    """One optimisation step of ``model``; returns its ``log_vars`` (detached tensors, no sync).

    Args:
        model: The user's model (a :class:`BaseModel`: ``data_preprocessor``, ``parse_losses``).
        data: The batch as the data loader yields it.
        optim_wrapper: Provides ``optim_context`` and ``update_params``.
        wrapper: The module the forward runs through (DDP/FSDP around ``model``); None: ``model``.
        detect_anomalous_params: Log the parameters outside the loss graph (debugging DDP's
            "Expected to have finished reduction"; walks the graph, slow).
    """
    through = model if wrapper is None else wrapper
    with optim_wrapper.optim_context(through):
        losses = run_forward(through, model.data_preprocessor(data, True), "loss")
    if type(losses) is not dict:  # the usual return needs no check call
        check_losses(losses, model)
    loss, log_vars = model.parse_losses(losses)
    if detect_anomalous_params:
        from kiln.model.anomaly import detect_anomalous_params as detect

        detect(loss, model=through)
    optim_wrapper.update_params(loss)
    return log_vars


def predict_step(model: nn.Module, data: Any, wrapper: nn.Module | None = None) -> Any:
    """Predictions for a val/test batch (the loop provides ``no_grad``), forward through ``wrapper``."""
    data = model.data_preprocessor(data, False)
    return check_predictions(run_forward(model if wrapper is None else wrapper, data, "predict"), model)


def compile_steps(model: nn.Module, options: bool | dict) -> None:
    """``torch.compile`` the model's train, val AND test steps (MMEngine compiles train only).

    The steps return detached values and every hook (logging included) runs outside them, so
    nothing of the logging path is traced. Compiled once per model object.

    Args:
        model: The (maybe wrapped) model whose ``*_step`` methods are replaced.
        options: True, or ``torch.compile`` keyword arguments (``dict(backend='aot_eager')``).
    """
    import torch

    if getattr(model, "_kiln_compiled", False):
        return
    kwargs = {} if options is True else dict(options)
    for name in ("train_step", "val_step", "test_step"):
        setattr(model, name, torch.compile(getattr(model, name), **kwargs))
    model._kiln_compiled = True
