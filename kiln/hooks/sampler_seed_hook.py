"""``DistSamplerSeedHook``: MMEngine's default hook that sets the sampler's epoch, kept by name.

In kiln the train loop owns progress and calls ``sampler.set_epoch`` itself when a pass starts
(``kiln.runner.loops``), so each epoch gets its own reproducible order with or without this hook.
The hook stays registered so configs naming it (``default_hooks.sampler_seed``) build; it acts at
no stage, so the hook dispatch never calls it.
"""

from __future__ import annotations

from kiln.hooks.hook import Hook
from kiln.registry import HOOKS

__all__ = ["DistSamplerSeedHook"]


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    """No-op kept for MMEngine configs: the train loop sets the sampler's epoch."""

    priority = "NORMAL"
