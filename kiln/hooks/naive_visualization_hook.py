"""``NaiveVisualizationHook``: send the val/test input images, with their samples, to the visualizer.

Every ``interval`` val/test iterations, each image of the batch goes to
``runner.visualizer.add_datasample(name, image, data_sample, pred_sample, ...)``. The base
``Visualizer`` adds the image as is (``LocalVisBackend``: ``vis_data/vis_image/<name>_<step>.png``,
TensorBoard: an image); a task visualizer overriding ``add_datasample`` draws its boxes or masks on
it. The images are the batch's raw inputs (before the data preprocessor), so nothing has to be
de-normalised. Works on MMEngine's default batch (``dict(inputs=[CHW, ...], data_samples=[...])``),
an NCHW tensor, or an ``(images, targets)`` tuple.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from kiln.errors import ConfigError
from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging import print_log
from kiln.registry import HOOKS

__all__ = ["NaiveVisualizationHook"]


def _images(data_batch: Any) -> list[torch.Tensor] | None:
    """The batch's images as CHW tensors, or None when the batch holds none we recognise."""
    inputs = data_batch.get("inputs") if isinstance(data_batch, Mapping) else (
        data_batch[0] if isinstance(data_batch, (list, tuple)) and data_batch else None)
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return list(inputs)
    if isinstance(inputs, Sequence) and inputs and all(
            isinstance(x, torch.Tensor) and x.dim() == 3 for x in inputs):
        return list(inputs)
    return None


def _samples(data_batch: Any, n: int) -> list[Any]:
    samples = data_batch.get("data_samples") if isinstance(data_batch, Mapping) else None
    if isinstance(samples, Sequence) and len(samples) == n:
        return list(samples)
    return [None] * n


def _name(sample: Any, fallback: str) -> str:
    path = getattr(sample, "img_path", None)
    if path is None and isinstance(sample, Mapping):
        path = sample.get("img_path")
    return os.path.splitext(os.path.basename(path))[0] if isinstance(path, str) else fallback


@HOOKS.register_module()
class NaiveVisualizationHook(Hook):
    """Visualize val/test images every ``interval`` iterations.

    Args:
        interval: Visualize every this many val/test iterations.
        draw_gt: Passed to ``add_datasample`` (draw the ground-truth sample).
        draw_pred: Passed to ``add_datasample`` (draw the prediction).
    """

    priority = "NORMAL"

    def __init__(self, interval: int = 1, draw_gt: bool = True, draw_pred: bool = True) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError("custom_hooks.NaiveVisualizationHook.interval",
                              f"expected a positive int, got {interval!r}")
        self.interval = interval
        self.draw_gt = draw_gt
        self.draw_pred = draw_pred
        self._warned = False

    def _draw(self, runner, mode: str, batch_idx: int, data_batch: Any, outputs: Any) -> None:
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        images = _images(data_batch)
        if images is None:
            if not self._warned:
                print_log(f"NaiveVisualizationHook: the {mode} batch has no images it recognises (an NCHW "
                          "tensor, a list of CHW tensors, or dict(inputs=...)); nothing is drawn",
                          logger="current", level=logging.WARNING)
                self._warned = True
            return
        gts = _samples(data_batch, len(images))
        preds = list(outputs) if isinstance(outputs, Sequence) and len(outputs) == len(images) else [None] * len(images)
        for i, (image, gt, pred) in enumerate(zip(images, gts, preds)):
            name = _name(gt, f"{mode}_{batch_idx}_{i}")
            runner.visualizer.add_datasample(name, image, data_sample=gt, pred_sample=pred,
                                             draw_gt=self.draw_gt, draw_pred=self.draw_pred, step=runner.iter)

    def after_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs: Any = None) -> None:
        self._draw(runner, "val", batch_idx, data_batch, outputs)

    def after_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs: Any = None) -> None:
        self._draw(runner, "test", batch_idx, data_batch, outputs)
