"""DDP wrappers with the BaseModel step API.

The Runner calls ``model.train_step(...)`` whether or not the model is wrapped. These wrappers
route the training forward through the wrapper (so DDP's gradient-sync hooks fire, and
``no_sync`` works on accumulation steps) and validation/testing through the plain module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel

from kiln import dist
from kiln.model.train_step import train_step
from kiln.registry import MODEL_WRAPPERS

__all__ = ["MMDistributedDataParallel", "MMSeparateDistributedDataParallel"]

MODEL_WRAPPERS.register_module(module=DistributedDataParallel)
MODEL_WRAPPERS.register_module(module=DataParallel)


@MODEL_WRAPPERS.register_module()
class MMDistributedDataParallel(DistributedDataParallel):
    """DDP whose ``train_step`` runs the forward through DDP, and val/test through the module.

    Args:
        module: A :class:`kiln.model.BaseModel` (anything with ``data_preprocessor``,
            ``parse_losses``, ``val_step``, ``test_step``).
        detect_anomalous_params: Log parameters that got no gradient at each step (debugging
            "Expected to have finished reduction" errors; slow).
        **kwargs: ``DistributedDataParallel`` arguments (``device_ids``, ``broadcast_buffers``...).
    """

    __kwargs_forwarded_to__ = DistributedDataParallel  # check_arguments checks **kwargs against it

    def __init__(self, module: nn.Module, detect_anomalous_params: bool = False, **kwargs: Any) -> None:
        super().__init__(module=module, **kwargs)
        self.detect_anomalous_params = detect_anomalous_params

    def train_step(self, data: Any, optim_wrapper: Any) -> Any:
        """Like :meth:`BaseModel.train_step`; gradients are all-reduced during backward."""
        return train_step(self.module, data, optim_wrapper, wrapper=self,
                          detect_anomalous_params=self.detect_anomalous_params)

    def val_step(self, data: Any) -> Any:
        """The module's ``val_step`` (no gradient sync needed)."""
        return self.module.val_step(data)

    def test_step(self, data: Any) -> Any:
        """The module's ``test_step`` (no gradient sync needed)."""
        return self.module.test_step(data)


@MODEL_WRAPPERS.register_module()
class MMSeparateDistributedDataParallel(DistributedDataParallel):
    """Wraps each trainable child of ``module`` in its own DDP (e.g. a GAN's generator and
    discriminator, stepped by different optimizers in the model's own ``train_step``).

    DDP's own ``__init__`` is skipped on purpose: the wrapper holds no parameters itself.
    Children without trainable parameters are only moved to this rank's device.
    """

    __kwargs_forwarded_to__ = DistributedDataParallel  # check_arguments checks **kwargs against it

    def __init__(
        self,
        module: nn.Module,
        broadcast_buffers: bool = False,
        find_unused_parameters: bool = False,
        **kwargs: Any,
    ) -> None:
        nn.Module.__init__(self)
        device = dist.get_device()
        for name, child in list(module._modules.items()):
            if child is None:
                continue
            child = child.to(device)
            if any(p.requires_grad for p in child.parameters()):
                child = MMDistributedDataParallel(
                    child, broadcast_buffers=broadcast_buffers,
                    find_unused_parameters=find_unused_parameters, **kwargs)
            module._modules[name] = child
        self.module = module

    def train_step(self, data: Any, optim_wrapper: Any) -> Any:
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data: Any) -> Any:
        return self.module.val_step(data)

    def test_step(self, data: Any) -> Any:
        return self.module.test_step(data)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Skip gradient sync in every wrapped child (all entered together)."""
        with contextlib.ExitStack() as stack:
            for child in self.module.children():
                if isinstance(child, DistributedDataParallel):
                    stack.enter_context(child.no_sync())
            yield

    def train(self, mode: bool = True) -> MMSeparateDistributedDataParallel:
        self.training = mode
        self.module.train(mode)
        return self
