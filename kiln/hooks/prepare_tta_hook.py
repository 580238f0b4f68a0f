"""``PrepareTTAHook``: before testing, wrap the trained model in its test-time-augmentation model.

``tta_cfg`` is a model config (``dict(type='MyTTAModel', ...)``, a :class:`kiln.model.BaseTTAModel`
subclass); the hook builds it with ``module=runner.model`` and makes it ``runner.model`` for the
test. The test dataloader must produce TTA batches (a ``TestTimeAug``-style pipeline giving each
sample a list of views). The caller's ``tta_cfg`` is not modified.

Example:
    >>> custom_hooks = [dict(type='PrepareTTAHook', tta_cfg=dict(type='AverageTTA'))]
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.errors import ConfigError
from kiln.hooks.hook import Hook
from kiln.registry import HOOKS, MODELS

__all__ = ["PrepareTTAHook"]


@HOOKS.register_module()
class PrepareTTAHook(Hook):
    """Replace ``runner.model`` by ``MODELS.build({**tta_cfg, 'module': runner.model})`` before test.

    Args:
        tta_cfg: The TTA model's config.
    """

    priority = "NORMAL"

    def __init__(self, tta_cfg: dict) -> None:
        if not isinstance(tta_cfg, Mapping) or "type" not in tta_cfg:
            raise ConfigError("custom_hooks.PrepareTTAHook.tta_cfg",
                              f"expected a model config dict with 'type', got {tta_cfg!r}")
        self.tta_cfg = dict(tta_cfg)

    def before_test(self, runner) -> None:
        cfg = {**self.tta_cfg, "module": runner.model}
        runner.model = MODELS.build(cfg)
