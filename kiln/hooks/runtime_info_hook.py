"""RuntimeInfoHook: copies the run's state (epoch, iter, lr, losses, metrics) into the message hub.

Losses arrive as detached tensors and are stored as such: the hub converts them in one batch when
the log line is made, instead of MMEngine's one ``.item()`` (device sync) per key per iteration.
Per iteration the hook hands the hub two mappings (lr before the step, losses after it) that the
hub files into its buffers when next read (``update_scalars_later``): the history is the same,
one value per iteration, but the per-key work happens once per log interval.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging.message_hub import first_values
from kiln.registry import HOOKS

__all__ = ["RuntimeInfoHook"]


def _is_scalar(value: Any) -> bool:
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return True
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.size == 1 if isinstance(value, np.ndarray) else value.numel() == 1
    return False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kiln")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


@HOOKS.register_module()
class RuntimeInfoHook(Hook):
    """Keeps ``message_hub`` up to date so other hooks and the log processor can read it."""

    priority = "VERY_HIGH"

    def __init__(self) -> None:
        self._last_loop_stage: str | None = None

    def before_run(self, runner) -> None:
        cfg = getattr(runner, "cfg", None)
        text = getattr(cfg, "pretty_text", None)
        runner.message_hub.update_info_dict({
            "cfg": text if isinstance(text, str) else ("" if cfg is None else str(cfg)),
            "seed": getattr(runner, "seed", None),
            "experiment_name": runner.experiment_name,
            "kiln_version": _version(),
        })

    def before_train(self, runner) -> None:
        hub = runner.message_hub
        hub.update_info_dict({"loop_stage": "train", "epoch": runner.epoch, "iter": runner.iter,
                              "max_epochs": runner.max_epochs, "max_iters": runner.max_iters})
        dataset = getattr(getattr(runner, "train_dataloader", None), "dataset", None)
        meta = getattr(dataset, "metainfo", None)
        if meta is not None:
            hub.update_info("dataset_meta", meta)
        first_values(runner.optim_wrapper.get_lr())  # its layout checked before the first step

    def after_train(self, runner) -> None:
        runner.message_hub.pop_info("loop_stage")

    def before_train_epoch(self, runner) -> None:
        runner.message_hub.update_info("epoch", runner.epoch)

    def before_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        hub = runner.message_hub
        hub.update_info("iter", runner.iter)
        # filed (and its layout checked) when the hub is next read: one append per iteration
        hub.update_scalars_later(runner.optim_wrapper.get_lr(), "train/", first_of_each=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        hub = runner.message_hub
        if outputs:
            hub.update_scalars_later(outputs, "train/")  # tensors stay on device: no sync here
        # The gradient norm of the step just taken (clip_grad by norm): a 0-d tensor, no sync.
        wrapper = runner.optim_wrapper
        grad_norm = getattr(wrapper, "grad_norm", None)
        if grad_norm is not None and wrapper.should_update():
            hub.update_scalar("train/grad_norm", grad_norm)

    def _enter(self, runner, stage: str) -> None:
        self._last_loop_stage = runner.message_hub.get_info("loop_stage")
        runner.message_hub.update_info("loop_stage", stage)

    def _leave(self, runner) -> None:
        if self._last_loop_stage == "train":
            runner.message_hub.update_info("loop_stage", "train")
        else:
            runner.message_hub.pop_info("loop_stage")
        self._last_loop_stage = None

    def _record_metrics(self, runner, mode: str, metrics: dict | None) -> None:
        for key, value in (metrics or {}).items():
            if _is_scalar(value):
                runner.message_hub.update_scalar(f"{mode}/{key}", value)
            else:
                runner.message_hub.update_info(f"{mode}/{key}", value)

    def before_val(self, runner) -> None:
        self._enter(runner, "val")

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self._record_metrics(runner, "val", metrics)

    def after_val(self, runner) -> None:
        self._leave(runner)

    def before_test(self, runner) -> None:
        self._enter(runner, "test")

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self._record_metrics(runner, "test", metrics)

    def after_test(self, runner) -> None:
        self._leave(runner)
