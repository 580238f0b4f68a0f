"""``BaseTTAModel``: test-time augmentation — run the model on each augmented view, merge per sample.

The TTA pipeline (e.g. MMEngine's ``TestTimeAug`` transform) makes every sample a list of views,
so a collated test batch holds, for each key, one entry per augmentation:
``dict(inputs=[views_aug0, views_aug1], data_samples=[samples_aug0, samples_aug1])``.
``test_step`` splits it into one ordinary batch per augmentation, runs the wrapped model's
``test_step`` on each, and hands ``merge_preds`` one tuple per sample: that sample's predictions
under every augmentation. A subclass says how to merge them (average scores, vote, ...).

Example:
    >>> @MODELS.register_module()
    ... class AverageTTA(BaseTTAModel):
    ...     def merge_preds(self, data_samples_list):
    ...         return [torch.stack(preds).mean(0) for preds in data_samples_list]
    >>> tta_model = dict(type='AverageTTA')   # PrepareTTAHook puts the trained model in 'module'
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from torch import nn

from kiln.model.base_model import BaseModel
from kiln.registry import MODELS

__all__ = ["BaseTTAModel"]


def split_augmentations(data: dict | tuple | list) -> list[Any]:
    """One batch per augmentation from a batch whose every value is a list over augmentations."""
    if isinstance(data, dict):
        if not data:
            raise ValueError("BaseTTAModel.test_step: the batch dict is empty")
        num_augs = len(next(iter(data.values())))
        for key, value in data.items():
            if len(value) != num_augs:
                raise ValueError(f"BaseTTAModel.test_step: data[{key!r}] has {len(value)} augmentations, "
                                 f"the first key has {num_augs}")
        return [{key: value[i] for key, value in data.items()} for i in range(num_augs)]
    if isinstance(data, (tuple, list)):
        num_augs = len(data[0])
        return [[part[i] for part in data] for i in range(num_augs)]
    raise TypeError(f"BaseTTAModel.test_step: expected a dict, tuple or list batch, but got {type(data).__name__}")


@MODELS.register_module()
class BaseTTAModel(BaseModel):
    """Wrap a trained model for test-time augmentation; subclasses implement :meth:`merge_preds`.

    Args:
        module: The model (an ``nn.Module`` with ``test_step``) or its config.
        data_preprocessor: This wrapper's preprocessor (the wrapped model keeps its own, which
            its ``test_step`` applies to each augmentation).
    """

    def __init__(self, module: nn.Module | dict, data_preprocessor: dict | nn.Module | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if isinstance(module, dict):
            module = MODELS.build(module)
        if not isinstance(module, nn.Module) or not callable(getattr(module, "test_step", None)):
            raise TypeError(f"BaseTTAModel.module: expected a model with test_step (or its config), "
                            f"but got {type(module).__name__}")
        self.module = module

    @abstractmethod
    def merge_preds(self, data_samples_list: list[tuple[Any, ...]]) -> list[Any]:
        """One merged prediction per sample, from each sample's tuple of per-augmentation predictions."""

    def test_step(self, data: dict | tuple | list) -> list[Any]:
        """Run ``module.test_step`` on each augmentation and merge per sample."""
        predictions = [self.module.test_step(batch) for batch in split_augmentations(data)]
        return self.merge_preds(list(zip(*predictions)))

    def val_step(self, data: dict | tuple | list) -> list[Any]:
        return self.test_step(data)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("BaseTTAModel runs through test_step (each augmentation through the "
                                  "wrapped model's test_step); it has no forward of its own")
