"""``EMAHook``: keep an exponential moving average of the weights and evaluate with it.

The averaged copy (``kiln.model.ExponentialMovingAverage`` or any ``MODELS`` averaged model) is
updated after every train iteration, swapped in for validation and test, and saved the
MMEngine way: ``state_dict`` holds the EMA weights (ready for deployment) and
``ema_state_dict`` the raw training weights under ``module.`` keys plus the average's
``steps``. Resuming swaps them back, so training continues exactly; a checkpoint without
``ema_state_dict`` seeds the average from ``state_dict`` with a warning.

Example:
    >>> custom_hooks = [dict(type='EMAHook', momentum=0.001, begin_iter=100)]
"""

from __future__ import annotations

import copy
import itertools
import logging
from typing import Any

import torch

from kiln.errors import CheckpointError, ConfigError
from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging import print_log
from kiln.model.wrappers.utils import unwrap_model
from kiln.registry import HOOKS, MODELS, check_arguments

__all__ = ["EMAHook"]

_NO_EMA_WARNING = ("There is no `ema_state_dict` in checkpoint. `EMAHook` will make a copy of "
                   "`state_dict` as the initial `ema_state_dict`")


@HOOKS.register_module()
class EMAHook(Hook):
    """Maintain an averaged copy of the model; validate/test with it; checkpoint it.

    Args:
        ema_type: Registered averaged-model type (``'ExponentialMovingAverage'``,
            ``'MomentumAnnealingEMA'``, ``'StochasticWeightAverage'``) or a class.
        strict_load: Load the EMA weights from a checkpoint with ``strict=True``.
        begin_iter: Before this iteration the average just copies the weights.
        begin_epoch: Same, counted in epochs (set one of the two).
        **kwargs: Arguments of the averaged model (``momentum``, ``interval``,
            ``update_buffers``, ``device``).
    """

    priority = "NORMAL"

    def __init__(self, ema_type: Any = "ExponentialMovingAverage", strict_load: bool = False,
                 begin_iter: int = 0, begin_epoch: int = 0, **kwargs: Any) -> None:
        if begin_iter and begin_epoch:
            raise ConfigError("custom_hooks.EMAHook", "`begin_iter` and `begin_epoch` should not be both set "
                              f"(got begin_iter={begin_iter}, begin_epoch={begin_epoch})")
        for name, value in (("begin_iter", begin_iter), ("begin_epoch", begin_epoch)):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"custom_hooks.EMAHook.{name}", f"expected an int >= 0, but got {value!r}")
        self.strict_load = strict_load
        check_arguments(MODELS.resolve(ema_type, "custom_hooks.EMAHook.ema_type"),  # kwargs go there
                        dict(model=None, **kwargs), "custom_hooks.EMAHook")
        self.ema_cfg = dict(type=ema_type, **kwargs)
        self.begin_iter = begin_iter
        self.begin_epoch = begin_epoch
        self.enabled_by_epoch = begin_epoch > 0
        self.src_model: torch.nn.Module | None = None
        self.ema_model: Any = None

    # -- building ----------------------------------------------------------------------------
    def before_run(self, runner) -> None:
        model = unwrap_model(runner.model)
        self.src_model = model
        self.ema_model = MODELS.build(self.ema_cfg, default_args=dict(model=model))

    def before_train(self, runner) -> None:
        if self.enabled_by_epoch and self.begin_epoch > runner.max_epochs:
            raise ConfigError("custom_hooks.EMAHook.begin_epoch",
                              f"{self.begin_epoch} is after the last epoch ({runner.max_epochs})")
        if not self.enabled_by_epoch and self.begin_iter > runner.max_iters:
            raise ConfigError("custom_hooks.EMAHook.begin_iter",
                              f"{self.begin_iter} is after the last iteration ({runner.max_iters})")

    # -- training ----------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        if self._ema_started(runner):
            self.ema_model.update_parameters(self.src_model)
            return
        with torch.no_grad():  # before the start the average simply follows the model
            source = self.src_model.state_dict()
            for key, value in self.ema_model.module.state_dict().items():
                value.copy_(source[key])

    def _ema_started(self, runner) -> bool:
        if self.enabled_by_epoch:
            return runner.epoch + 1 >= self.begin_epoch
        return runner.iter + 1 >= self.begin_iter

    # -- evaluation with the averaged weights ------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        self._swap_parameters()

    def after_val_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        self._swap_parameters()

    def before_test_epoch(self, runner) -> None:
        self._swap_parameters()

    def after_test_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        self._swap_parameters()

    @torch.no_grad()
    def _swap_parameters(self) -> None:
        """Exchange the values of the model's and the average's tensors, in place."""
        avg, src = self.ema_model.module, self.src_model
        if self.ema_model.update_buffers:
            pairs = zip(itertools.chain(avg.parameters(), avg.buffers()),
                        itertools.chain(src.parameters(), src.buffers()))
        else:
            pairs = zip(avg.parameters(), src.parameters())
        for p_avg, p_src in pairs:
            tmp = p_avg.detach().clone()
            p_avg.copy_(p_src.detach().to(p_avg.device))
            p_src.copy_(tmp.to(p_src.device))

    # -- checkpoints -------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """``state_dict`` gets the EMA weights, ``ema_state_dict`` the raw ones (MMEngine's layout).

        A DCP checkpoint (no ``state_dict`` here: DCP writes the model's own, raw, weights) keeps
        the average as it is in ``ema_state_dict`` and says so (``ema_layout='average'``).
        """
        ema = {k: v.detach().cpu() for k, v in self.ema_model.state_dict().items()}
        if "state_dict" in checkpoint:
            checkpoint["ema_state_dict"] = ema
            self._swap_state_dicts(checkpoint)
            return
        sharded = [k for k, v in ema.items() if type(v) is not torch.Tensor]
        if sharded:
            raise CheckpointError(f"EMAHook cannot save the average of a sharded model in a DCP checkpoint "
                                  f"yet ({sharded[0]} is a {type(ema[sharded[0]]).__name__}); save "
                                  "with save_format='pth' or drop the EMAHook")
        checkpoint["ema_state_dict"] = ema
        checkpoint["ema_layout"] = "average"

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        resuming = bool(getattr(runner, "_resume", False))
        if "ema_state_dict" in checkpoint and resuming:
            if checkpoint.get("ema_layout") != "average":
                self._swap_state_dicts(checkpoint)  # the raw weights go back to state_dict for the model
            self.ema_model.load_state_dict(checkpoint["ema_state_dict"], strict=self.strict_load)
            return
        if resuming:
            print_log(_NO_EMA_WARNING, logger="current", level=logging.WARNING)
        from kiln.checkpoint.loading import load_state_dict, unwrap_state_dict

        state = copy.deepcopy(unwrap_state_dict(checkpoint))
        load_state_dict(self.ema_model.module, state, strict=self.strict_load)

    @staticmethod
    def _swap_state_dicts(checkpoint: dict) -> None:
        model_state, ema_state = checkpoint["state_dict"], checkpoint["ema_state_dict"]
        for key in list(ema_state):
            if key.startswith("module.") and key[7:] in model_state:
                ema_state[key], model_state[key[7:]] = model_state[key[7:]], ema_state[key]

