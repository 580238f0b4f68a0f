"""Averaged copies of a model (EMA, SWA) that evaluate better than the raw training weights.

The averaged model keeps a frozen deep copy and is updated from the training model after each
step (:class:`kiln.hooks.EMAHook` does this). Updates use torch's ``_foreach`` kernels (one launch
for all parameters instead of one per tensor) and a Python step counter, so an update never
syncs the device.

Example:
    >>> import torch
    >>> from kiln.model import ExponentialMovingAverage
    >>> net = torch.nn.Linear(2, 2)
    >>> ema = ExponentialMovingAverage(net, momentum=0.1)
    >>> ema.update_parameters(net)  # first call copies the weights
    >>> torch.equal(ema.module.weight, net.weight)
    True
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.registry import MODELS

__all__ = [
    "BaseAveragedModel", "ExponentialMovingAverage", "MomentumAnnealingEMA", "StochasticWeightAverage",
]


class BaseAveragedModel(nn.Module):
    """A frozen copy of ``model`` whose weights are an average of the model's over training.

    Subclasses define :meth:`avg_func` (one tensor) and may override :meth:`average_tensors`
    (all tensors at once, for speed).

    Args:
        model: The model to average (its current weights are copied).
        interval: Average every ``interval`` calls of :meth:`update_parameters`.
        device: Keep the copy on this device (e.g. ``'cpu'`` to save accelerator memory).
        update_buffers: Average floating-point buffers too (e.g. BN running stats) instead of
            copying the model's buffers at each update.
    """

    def __init__(
        self,
        model: nn.Module,
        interval: int = 1,
        device: torch.device | str | None = None,
        update_buffers: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ConfigError("interval", f"expected a positive int, but got {interval!r}")
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.interval = interval
        if device is not None:
            self.module = self.module.to(device)
        # Persistent, so checkpoints carry it; ``_steps`` mirrors it on the host (see _load_from_state_dict).
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long, device=device))
        self._steps = 0
        self.update_buffers = update_buffers

    @property
    def avg_parameters(self) -> dict[str, torch.Tensor]:
        """The averaged tensors by name (looked up each time: ``.to()`` replaces buffer tensors)."""
        return self.module.state_dict() if self.update_buffers else dict(self.module.named_parameters())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged copy."""
        return self.module(*args, **kwargs)

    def avg_func(self, averaged_param: torch.Tensor, source_param: torch.Tensor, steps: int) -> None:
        """Update ``averaged_param`` in place from ``source_param`` at step ``steps``."""
        raise NotImplementedError(f"{type(self).__name__} must define avg_func(averaged_param, source_param, steps)")

    def average_tensors(self, averaged: list[torch.Tensor], source: list[torch.Tensor], steps: int) -> None:
        """Update every averaged tensor in place; the default calls :meth:`avg_func` per tensor."""
        for avg, src in zip(averaged, source):
            self.avg_func(avg, src, steps)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        src = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        pairs = [(avg, src[name].detach()) for name, avg in self.avg_parameters.items()]
        if self._steps == 0:
            for avg, s in pairs:
                avg.copy_(s)
        elif self._steps % self.interval == 0:
            pairs = [(avg, s) for avg, s in pairs if avg.is_floating_point()]
            if pairs:
                averaged = [avg for avg, _ in pairs]
                source = [s if s.device == avg.device else s.to(avg.device) for avg, s in pairs]
                self.average_tensors(averaged, source, self._steps)
        if not self.update_buffers:  # buffers (e.g. BN statistics) follow the model as they are
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.copy_(b_src.detach())
        self.steps.add_(1)  # in place on the buffer's device: no sync
        self._steps += 1

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._steps = int(self.steps)  # one sync, at load time only


def _foreach_lerp(averaged: list[torch.Tensor], source: list[torch.Tensor], weight: float) -> None:
    """``avg += weight * (src - avg)`` for all tensors, grouped by device/dtype for the foreach kernel."""
    groups: dict[tuple, tuple[list, list]] = {}
    for avg, src in zip(averaged, source):
        key = (avg.device, avg.dtype, src.dtype)
        groups.setdefault(key, ([], []))
        groups[key][0].append(avg)
        groups[key][1].append(src)
    for (_, dtype, src_dtype), (avgs, srcs) in groups.items():
        if src_dtype != dtype:
            srcs = [s.to(dtype) for s in srcs]
        torch._foreach_lerp_(avgs, srcs, weight)


@MODELS.register_module()
class StochasticWeightAverage(BaseAveragedModel):
    """Stochastic Weight Averaging: the running mean of the weights seen at each averaging step."""

    def avg_func(self, averaged_param: torch.Tensor, source_param: torch.Tensor, steps: int) -> None:
        averaged_param.lerp_(source_param, 1.0 / (steps // self.interval + 1))

    def average_tensors(self, averaged: list[torch.Tensor], source: list[torch.Tensor], steps: int) -> None:
        if type(self).avg_func is not StochasticWeightAverage.avg_func:  # a subclass changed the rule
            return super().average_tensors(averaged, source, steps)
        _foreach_lerp(averaged, source, 1.0 / (steps // self.interval + 1))


def _check_momentum(momentum: float) -> None:
    if not isinstance(momentum, (int, float)) or not 0.0 < momentum < 1.0:
        raise ConfigError("momentum", f"must be in the open range (0.0, 1.0), but got {momentum!r}")
    if momentum > 0.5:
        print_log("The value of momentum in EMA is usually a small number,which is different from the "
                  f"conventional notion of momentum but got {momentum}. Please make sure the value is correct.",
                  logger="current", level=logging.WARNING)


@MODELS.register_module()
class ExponentialMovingAverage(BaseAveragedModel):
    """Exponential moving average with MMEngine's convention.

    ``averaged = (1 - momentum) * averaged + momentum * source``: ``momentum`` is the weight of the
    NEW value (``decay = 1 - momentum``), so it is small (default 0.0002).

    Args:
        model: The model to average.
        momentum: Weight of the new value, in (0, 1); values above 0.5 log a warning.
        interval, device, update_buffers: See :class:`BaseAveragedModel`.
    """

    def __init__(
        self,
        model: nn.Module,
        momentum: float = 0.0002,
        interval: int = 1,
        device: torch.device | str | None = None,
        update_buffers: bool = False,
    ) -> None:
        super().__init__(model, interval, device, update_buffers)
        _check_momentum(momentum)
        self.momentum = momentum

    def _momentum_at(self, steps: int) -> float:
        return self.momentum

    def avg_func(self, averaged_param: torch.Tensor, source_param: torch.Tensor, steps: int) -> None:
        averaged_param.lerp_(source_param, self._momentum_at(steps))

    def average_tensors(self, averaged: list[torch.Tensor], source: list[torch.Tensor], steps: int) -> None:
        if type(self).avg_func is not ExponentialMovingAverage.avg_func:  # a subclass changed the rule
            return super().average_tensors(averaged, source, steps)
        _foreach_lerp(averaged, source, self._momentum_at(steps))


@MODELS.register_module()
class MomentumAnnealingEMA(ExponentialMovingAverage):
    """EMA whose momentum starts large and anneals: ``max(momentum, gamma / (gamma + steps))``.

    Early averages follow the fast-changing weights closely; later ones settle on ``momentum``.

    Args:
        gamma: Annealing speed (> 0); larger keeps the momentum high for longer.
    """

    def __init__(
        self,
        model: nn.Module,
        momentum: float = 0.0002,
        gamma: int = 100,
        interval: int = 1,
        device: torch.device | str | None = None,
        update_buffers: bool = False,
    ) -> None:
        super().__init__(model, momentum, interval, device, update_buffers)
        if not isinstance(gamma, (int, float)) or gamma <= 0:
            raise ConfigError("gamma", f"expected a positive number, but got {gamma!r}")
        self.gamma = gamma

    def _momentum_at(self, steps: int) -> float:
        return max(self.momentum, self.gamma / (self.gamma + steps))
