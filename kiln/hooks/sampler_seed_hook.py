"""``DistSamplerSeedHook``: tell the train sampler which epoch starts, so each epoch (and each
rank) gets its own, reproducible shuffle order."""

from __future__ import annotations

from kiln.hooks.hook import Hook
from kiln.registry import HOOKS

__all__ = ["DistSamplerSeedHook"]


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    """Call ``set_epoch(runner.epoch)`` on the train loader's sampler before each epoch.

    Works with ``loader.sampler`` or, for a custom batch sampler, ``loader.batch_sampler.sampler``;
    samplers without ``set_epoch`` (torch's ``RandomSampler``) are left alone.
    """

    priority = "NORMAL"

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_loop.dataloader
        for sampler in (getattr(loader, "sampler", None),
                        getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(runner.epoch)
                return
