"""OptimWrapperDict: several optim wrappers under names, for models with several optimizers (GANs).

A GAN's generator and discriminator each have their own optimizer, schedule and update rule, and
the model's ``train_step`` decides which one steps when. The Runner only needs one object to
hand to ``train_step``, to checkpoint and to log: this dict is that object. It deliberately does
NOT step, back-propagate or enter an optim context itself (which optimizer should?): the model
calls ``optim_wrapper['generator'].update_params(loss)`` explicitly (MMEngine's semantics).

Example:
    >>> import torch
    >>> g, d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    >>> wrappers = OptimWrapperDict(
    ...     generator=OptimWrapper(torch.optim.SGD(g.parameters(), lr=0.1)),
    ...     discriminator=OptimWrapper(torch.optim.Adam(d.parameters(), lr=0.01)))
    >>> wrappers.get_lr()
    {'generator.lr': [0.1], 'discriminator.lr': [0.01]}
    >>> sorted(wrappers.state_dict())
    ['discriminator', 'generator']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim.optim_wrapper import OptimWrapper
from kiln.registry import OPTIM_WRAPPERS

__all__ = ["OptimWrapperDict"]


def _separately(name: str) -> NotImplementedError:
    return NotImplementedError(f"OptimWrapperDict.{name}() is ambiguous with several optimizers: the model "
                               f"must override train_step and call it on one of them, e.g. "
                               f"optim_wrapper['generator'].{name}(...)")


@OPTIM_WRAPPERS.register_module()
class OptimWrapperDict(OptimWrapper):
    """A name → :class:`OptimWrapper` mapping with the wrapper API the Runner and hooks use.

    It subclasses :class:`OptimWrapper` (so ``isinstance`` checks and the builder accept it) but
    wraps no optimizer of its own: ``update_params``, ``backward``, ``step`` and
    ``optim_context`` raise; ``zero_grad`` clears every optimizer; ``get_lr``/``get_momentum``
    return ``'<name>.lr'``-style keys (logged as ``train/<name>.lr``); ``state_dict`` is one
    entry per name.

    Args:
        **optim_wrappers: The wrappers by name, e.g. ``generator=..., discriminator=...``.
    """

    def __init__(self, **optim_wrappers: OptimWrapper) -> None:  # no super().__init__(): no optimizer of its own
        if not optim_wrappers:
            raise ConfigError("optim_wrapper", "OptimWrapperDict needs at least one named OptimWrapper, "
                                               "e.g. OptimWrapperDict(generator=..., discriminator=...)")
        for name, wrapper in optim_wrappers.items():
            if not isinstance(wrapper, OptimWrapper) or isinstance(wrapper, OptimWrapperDict):
                raise ConfigError(f"optim_wrapper.{name}", f"expected an OptimWrapper, but got "
                                                           f"{type(wrapper).__name__}")
        self.optim_wrappers: dict[str, OptimWrapper] = dict(optim_wrappers)

    # -- what only each wrapper can do --------------------------------------------------------
    def update_params(self, loss: torch.Tensor, step_kwargs: dict | None = None,
                      zero_kwargs: dict | None = None) -> None:
        raise _separately("update_params")

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        raise _separately("backward")

    def step(self, **kwargs: Any) -> None:
        raise _separately("step")

    def optim_context(self, model: nn.Module) -> AbstractContextManager[Any]:
        raise _separately("optim_context")

    def zero_grad(self, **kwargs: Any) -> None:
        """Clear the gradients of every optimizer."""
        for wrapper in self.optim_wrappers.values():
            wrapper.zero_grad(**kwargs)

    # -- bookkeeping the Runner and hooks call on "the" optim wrapper ---------------------------
    def initialize_count_status(self, model: nn.Module, init_counts: int, max_counts: int) -> None:
        """Tell every wrapper where training starts, assuming each is updated once per iteration.

        (MMEngine does nothing here; forwarding keeps an accumulating child's windows aligned
        after a resume. A wrapper updated k times per iteration should be re-initialised by
        the model.)
        """
        resumed, self._resumed_counts = getattr(self, "_resumed_counts", None) or {}, None
        for name, wrapper in self.optim_wrappers.items():
            wrapper.initialize_count_status(model, int(resumed.get(name, init_counts)), max_counts)

    def inner_counts(self) -> dict[str, int]:
        """``{name: update_params calls so far}``: the children's accumulation windows differ when
        the model updates them on different iterations (a GAN); checkpoints keep them."""
        return {name: wrapper.inner_count for name, wrapper in self.optim_wrappers.items()}

    def resume_inner_counts(self, counts: Mapping[str, int]) -> None:
        """Counts from a checkpoint, applied by the next :meth:`initialize_count_status` (a resume)."""
        self._resumed_counts = dict(counts)

    def should_update(self) -> bool:
        return any(wrapper.should_update() for wrapper in self.optim_wrappers.values())

    def should_sync(self) -> bool:
        return any(wrapper.should_sync() for wrapper in self.optim_wrappers.values())

    @property
    def grad_norm(self) -> None:  # type: ignore[override]
        """None: each child records its own (``optim_wrapper['generator'].grad_norm``)."""
        return None

    @property
    def inner_count(self) -> int:
        raise _separately("inner_count")

    @property
    def max_counts(self) -> int:
        raise _separately("max_counts")

    @property
    def accumulative_counts(self) -> int:
        raise _separately("accumulative_counts")

    @property
    def optimizer(self) -> torch.optim.Optimizer:  # type: ignore[override]
        raise AttributeError("OptimWrapperDict has no single .optimizer: use "
                             "optim_wrapper['<name>'].optimizer")

    @property
    def param_groups(self) -> dict[str, list[dict[str, Any]]]:  # type: ignore[override]
        """``{name: that wrapper's param_groups}``."""
        return {name: wrapper.param_groups for name, wrapper in self.optim_wrappers.items()}

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return {name: wrapper.defaults for name, wrapper in self.optim_wrappers.items()}

    def get_lr(self) -> dict[str, list[float]]:
        """``{'<name>.lr': [...]}`` (and ``'<name>.base_lr'`` where a wrapper reports one)."""
        return self._prefixed("get_lr")

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'<name>.momentum': [...]}``."""
        return self._prefixed("get_momentum")

    def _prefixed(self, method: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for name, wrapper in self.optim_wrappers.items():
            for key, values in getattr(wrapper, method)().items():
                out[f"{name}.{key}"] = values
        return out

    def state_dict(self) -> dict[str, Any]:
        """``{name: that wrapper's state_dict()}`` (MMEngine's checkpoint ``optimizer`` layout)."""
        return {name: wrapper.state_dict() for name, wrapper in self.optim_wrappers.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load each named state into the wrapper of that name; names absent here are an error.

        Raises:
            KeyError: ``state_dict`` names a wrapper this dict does not have (nothing is loaded).
        """
        unknown = sorted(set(state_dict) - set(self.optim_wrappers))
        if unknown:
            raise KeyError(f"Mismatched optimizer state_dict: {unknown} not in this OptimWrapperDict "
                           f"(it has {sorted(self.optim_wrappers)})")
        for name, state in state_dict.items():
            self.optim_wrappers[name].load_state_dict(state)

    # -- the mapping ---------------------------------------------------------------------------
    def __getitem__(self, key: str) -> OptimWrapper:
        if key not in self.optim_wrappers:
            raise KeyError(f"{key!r} is not in this OptimWrapperDict (it has {sorted(self.optim_wrappers)})")
        return self.optim_wrappers[key]

    def __contains__(self, key: object) -> bool:
        return key in self.optim_wrappers

    def __len__(self) -> int:
        return len(self.optim_wrappers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.optim_wrappers)

    def keys(self):
        return self.optim_wrappers.keys()

    def values(self):
        return self.optim_wrappers.values()

    def items(self):
        return self.optim_wrappers.items()

    def __repr__(self) -> str:
        return "".join(f"{name}: {wrapper!r}" for name, wrapper in self.optim_wrappers.items())
