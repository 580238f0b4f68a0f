"""AmpOptimWrapper: mixed precision (autocast + GradScaler) behind the OptimWrapper API.

The model's ``train_step`` is unchanged: ``optim_context`` turns autocast on for the forward, and
``update_params`` scales the loss, unscales before clipping, and lets the scaler skip steps whose
gradients overflowed. float16 needs a loss scaler; bfloat16 has float32's exponent range and does
not, which is why bfloat16 on CPU (what CI can run) uses no scaler at all.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='bfloat16')
    >>> with wrapper.optim_context(model):
    ...     out = model(torch.ones(3, 4))
    >>> out.dtype
    torch.bfloat16
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim.optim_wrapper import OptimWrapper
from kiln.registry import OPTIM_WRAPPERS

__all__ = ["AmpOptimWrapper"]

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _device_type(optimizer: torch.optim.Optimizer) -> str:
    """The device type of the optimizer's parameters (the model's), else kiln's default device."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            return param.device.type
    from kiln.dist import get_device
    return get_device().type


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """OptimWrapper with automatic mixed precision.

    Args:
        loss_scale: ``'dynamic'`` (GradScaler's defaults), a float (a static scale), or a dict of
            ``torch.amp.GradScaler`` arguments. Only used when the autocast dtype is float16.
        dtype: ``'float16'``, ``'bfloat16'`` (or the torch dtype), or None for the device's
            autocast default (float16 on CUDA, bfloat16 on CPU).
        optimizer, accumulative_counts, clip_grad, skip_nonfinite: as :class:`OptimWrapper`.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        loss_scale: str | float | Mapping[str, Any] = "dynamic",
        dtype: str | torch.dtype | None = None,
        accumulative_counts: int = 1,
        clip_grad: Mapping[str, Any] | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        super().__init__(optimizer, accumulative_counts=accumulative_counts, clip_grad=clip_grad,
                         skip_nonfinite=skip_nonfinite)
        self.device_type = _device_type(optimizer)
        self.cast_dtype = self._parse_dtype(dtype)
        self._static_scale: float | None = None
        self.loss_scaler: torch.amp.GradScaler | None = None
        if self.cast_dtype == torch.float16:
            self.loss_scaler = self._build_scaler(loss_scale)

    def _parse_dtype(self, dtype: str | torch.dtype | None) -> torch.dtype:
        if dtype is None:
            return torch.get_autocast_dtype(self.device_type)
        if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
            return dtype
        if isinstance(dtype, str) and dtype in _DTYPES:
            return _DTYPES[dtype]
        raise ConfigError("optim_wrapper.dtype", f"expected 'float16', 'bfloat16' or None, but got {dtype!r}")

    def _build_scaler(self, loss_scale: str | float | Mapping[str, Any]) -> torch.amp.GradScaler:
        path = "optim_wrapper.loss_scale"
        if loss_scale == "dynamic":
            return torch.amp.GradScaler(self.device_type)
        if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool) and loss_scale > 0:
            self._static_scale = float(loss_scale)
            return torch.amp.GradScaler(self.device_type, init_scale=self._static_scale)
        if isinstance(loss_scale, Mapping):
            try:
                return torch.amp.GradScaler(self.device_type, **loss_scale)
            except TypeError as exc:
                raise ConfigError(path, f"not valid GradScaler arguments: {exc}") from None
        raise ConfigError(path, f"expected 'dynamic', a positive number or a dict of GradScaler "
                                f"arguments, but got {loss_scale!r}")

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        super().backward(loss, **kwargs)

    def step(self, **kwargs: Any) -> None:
        if self.loss_scaler is None:
            super().step(**kwargs)
            return
        if self._clip is not None:
            self.loss_scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._static_scale)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(self.device_type, dtype=self.cast_dtype):
            yield

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.loss_scaler is not None:
            state["loss_scaler"] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop("loss_scaler", None)
        if scaler_state is not None and self.loss_scaler is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
