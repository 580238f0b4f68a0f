"""``Compose``: a dataset's pipeline, a list of transforms applied in order.

Each transform is a config dict (built through the ``TRANSFORMS`` registry) or any callable taking
and returning a sample dict. A transform returning None drops the sample: ``Compose`` returns None
at once and the dataset fetches another one (``BaseDataset.max_refetch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kiln.registry import TRANSFORMS, build_from_cfg

__all__ = ["Compose"]


@TRANSFORMS.register_module()
class Compose:
    """Apply ``transforms`` in order (dicts are built via ``TRANSFORMS``; None ends the chain).

    Example:
        >>> Compose([lambda d: {**d, 'x': d['x'] * 2}])({'x': 3})
        {'x': 6}
    """

    def __init__(self, transforms: Sequence[Mapping | Callable] | Mapping | Callable | None = None) -> None:
        if transforms is None:
            transforms = []
        elif isinstance(transforms, Mapping) or callable(transforms):
            transforms = [transforms]
        if not isinstance(transforms, Sequence) or isinstance(transforms, str):
            raise TypeError(f"pipeline must be a list of transform dicts/callables, but got "
                            f"{type(transforms).__name__}")
        self.transforms: list[Callable] = []
        for i, transform in enumerate(transforms):
            if isinstance(transform, Mapping):
                transform = build_from_cfg(transform, TRANSFORMS, path=f"pipeline[{i}]")
            if not callable(transform):
                raise TypeError(f"pipeline[{i}]: a transform must be a dict config or a callable, "
                                f"but got {type(transform).__name__} {transform!r}")
            self.transforms.append(transform)

    def __call__(self, data: Any) -> Any:
        for transform in self.transforms:
            data = transform(data)
            if data is None:
                return None
        return data

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"
