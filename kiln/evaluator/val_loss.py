"""Validation/test loss, MMEngine 0.10.7's way: the model hands it over as the last output.

A ``val_step``/``test_step`` that returns a list ending in a data element whose ONLY data field is
``loss`` (a dict ``{name: tensor or list of tensors}``) has that element taken off before the
evaluator and the hooks see the outputs. The ValLoop/TestLoop average each name over the
iterations of the pass and add to the metrics ``<name>: mean`` plus ``val_loss`` (``test_loss``),
the sum of the means whose name contains ``loss``. So it is logged next to the metrics, written
to ``scalars.json``, and usable as ``EarlyStoppingHook(monitor='val_loss')`` or
``CheckpointHook(save_best='val_loss')``.

The mean is over iterations, each iteration counting once whatever its batch size (MMEngine's
documented behaviour); a smaller last batch therefore weighs as much as a full one. Unlike
MMEngine, the values are not ``.item()``-ed per iteration: they are kept as detached tensors and
converted in one batch when the pass ends.

Example (a model's ``val_step``)::

    def val_step(self, data):
        x, y = data
        logits = self.net(x)
        loss = BaseDataElement(loss=dict(loss=F.cross_entropy(logits, y)))
        return [*predictions_of(logits, y), loss]   # the loss element comes last
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kiln.logging.history_buffer import HistoryBuffer

__all__ = ["EvalLosses", "is_loss_element"]


def is_loss_element(obj: Any) -> bool:
    """True for a data element (``keys()``/``metainfo_keys()``, as BaseDataElement) holding only ``loss``."""
    keys = getattr(obj, "keys", None)
    if not callable(keys) or not callable(getattr(obj, "metainfo_keys", None)):
        return False
    return list(keys()) == ["loss"]


class EvalLosses:
    """The losses of one val/test pass: take them off the outputs, then add their means to the metrics.

    Args:
        stage: ``'val'`` or ``'test'`` (names the total: ``val_loss``/``test_loss``).
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._buffers: dict[str, HistoryBuffer] = {}

    def take(self, outputs: Any) -> Any:
        """``outputs`` without a trailing loss element, whose values are recorded."""
        if not isinstance(outputs, (list, tuple)) or not outputs or not is_loss_element(outputs[-1]):
            return outputs
        losses = outputs[-1].loss
        if not isinstance(losses, Mapping):
            raise TypeError(f"{self.stage}_step: the loss element's 'loss' must be a dict "
                            f"{{name: tensor}}, but got {type(losses).__name__}")
        for name, value in losses.items():
            buffer = self._buffers.setdefault(name, HistoryBuffer())
            for item in value if isinstance(value, (list, tuple)) else [value]:
                # a tensor stays on its device: one batched conversion when the means are read
                buffer.update(item.detach() if isinstance(item, torch.Tensor) else float(item))
        return type(outputs)(outputs[:-1])

    def add_to(self, metrics: dict[str, Any] | None) -> dict[str, Any] | None:
        """``metrics`` plus ``<name>: mean`` per loss name and ``<stage>_loss``; as is without losses."""
        if not self._buffers:
            return metrics
        metrics = dict(metrics or {})
        total = 0.0
        for name, buffer in self._buffers.items():
            mean = buffer.mean()
            metrics[name] = mean
            if "loss" in name:
                total += mean
        metrics[f"{self.stage}_loss"] = total
        return metrics
