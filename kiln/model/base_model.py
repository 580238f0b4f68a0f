"""BaseModel: the model side of the training loop (preprocess → forward → losses → update).

A subclass writes only ``forward(inputs, data_samples=None, mode='tensor')``; the Runner calls
``train_step`` / ``val_step`` / ``test_step``, which this class implements in MMEngine's way.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from kiln.model import BaseModel
    >>> class Net(BaseModel):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(2, 1)
    ...     def forward(self, inputs, labels=None, mode='tensor'):
    ...         out = self.fc(inputs)
    ...         if mode == 'loss':
    ...             return {'loss': ((out - labels) ** 2).mean()}
    ...         if mode == 'predict':
    ...             return [out]
    ...         if mode == 'tensor':
    ...             return out
    ...         self.check_mode(mode)
    >>> Net().val_step((torch.ones(4, 2), torch.zeros(4, 1)))[0].shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kiln.model.base_module import BaseModule
from kiln.model.data_preprocessor import _TracksDevice
from kiln.model.forward import check_mode, run_forward
from kiln.model.train_step import predict_step, train_step
from kiln.registry import MODELS, build_from_cfg

__all__ = ["BaseModel"]

def _reduce_value(name: str, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value if value.dim() == 0 else value.mean()  # a scalar needs no extra kernel
    if isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
        total = value[0].mean()
        for v in value[1:]:
            total = total + v.mean()
        return total
    raise TypeError(f"losses[{name!r}] is not a tensor or a non-empty list of tensors, but a {type(value).__name__}")


class BaseModel(_TracksDevice, BaseModule, metaclass=ABCMeta):
    """Base class of trainable models: owns the data preprocessor and the train/val/test steps.

    Args:
        data_preprocessor: None (a :class:`BaseDataPreprocessor`, which only moves data to the
            device), a config dict built through ``kiln.registry.MODELS``, or an ``nn.Module``.
        init_cfg: Weight initialisation config, see :class:`BaseModule`.
    """

    def __init__(self, data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__(init_cfg)
        if data_preprocessor is None:
            data_preprocessor = dict(type="BaseDataPreprocessor")
        if isinstance(data_preprocessor, nn.Module):
            self.data_preprocessor = data_preprocessor
        elif isinstance(data_preprocessor, Mapping):
            self.data_preprocessor = build_from_cfg(data_preprocessor, MODELS, path="data_preprocessor")
        else:
            raise TypeError(f"data_preprocessor should be a dict, an nn.Module instance or None, but got "
                            f"{type(data_preprocessor).__name__}")

    @abstractmethod
    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = "tensor") -> Any:
        """Losses (``'loss'``), predictions (``'predict'``) or raw tensors (``'tensor'``).

        Call :meth:`check_mode` for a mode you do not handle: it raises an error listing the three.
        """

    check_mode = staticmethod(check_mode)

    def train_step(self, data: dict | tuple | list, optim_wrapper: Any) -> OrderedDict:
        """One optimisation step (:func:`kiln.model.train_step.train_step`); returns ``log_vars``."""
        return train_step(self, data, optim_wrapper)

    def val_step(self, data: dict | tuple | list) -> Any:
        """Predictions for a validation batch (the loop provides ``no_grad``)."""
        return predict_step(self, data)

    def test_step(self, data: dict | tuple | list) -> Any:
        """Predictions for a test batch (the loop provides ``no_grad``)."""
        return predict_step(self, data)

    def _run_forward(self, data: Any, mode: str) -> Any:  # MMEngine's name, kept for its users
        return run_forward(self, data, mode)

    def parse_losses(self, losses: Mapping[str, Any]) -> tuple[torch.Tensor, OrderedDict]:
        """Sum the losses for backward and collect every value for logging.

        Each value is a tensor (averaged) or a list of tensors (sum of their means); the total is
        the sum over keys that contain ``'loss'``. ``log_vars`` starts with ``'loss'`` and holds
        DETACHED tensors: no ``.item()`` here (the logger converts them in one batch at its
        interval). Nothing is all-reduced here: the values stay this rank's, and the log
        processor averages them across ranks once per log interval.

        Returns:
            ``(loss, log_vars)``.
        """
        log_vars: OrderedDict = OrderedDict(loss=None)  # 'loss' first, filled in below
        loss: Any = None
        for name, value in losses.items():
            if type(value) is not torch.Tensor or value.dim() != 0:  # a 0-d tensor is taken as is
                value = _reduce_value(name, value)  # a tensor from here on
            if "loss" in name:  # substring match: loss_cls, aux_loss, ... all count
                loss = value if loss is None else loss + value
            # a user key named 'loss' replaces the logged total, keeping position 0 (MMEngine)
            log_vars[name] = value.detach()
        if loss is None:
            raise ValueError(f"{type(self).__name__}: none of the losses has 'loss' in its name "
                             f"(got keys {list(losses)}), so there is nothing to backpropagate")
        if "loss" not in losses:
            log_vars["loss"] = loss.detach()
        return loss, log_vars
