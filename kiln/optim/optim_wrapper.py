"""OptimWrapper: one object that owns backward → (clip) → step → zero_grad, with gradient accumulation.

Models call ``optim_wrapper.update_params(loss)`` and never touch the optimizer directly, so
accumulation, clipping, mixed precision (:class:`~kiln.optim.AmpOptimWrapper`) and DDP's
``no_sync`` are decided here, once, instead of in every model's ``train_step``.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(2, 1)
    >>> wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    >>> for _ in range(2):
    ...     with wrapper.optim_context(model):
    ...         loss = model(torch.ones(1, 2)).sum()
    ...     wrapper.update_params(loss)
    >>> wrapper.get_lr()
    {'lr': [0.1]}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.registry import OPTIM_WRAPPERS

__all__ = ["OptimWrapper"]

# The keyword arguments each clipping function accepts besides the parameters.
_CLIP_ARGS = {
    "norm": ({"max_norm"}, {"max_norm", "norm_type", "error_if_nonfinite", "foreach"}),
    "value": ({"clip_value"}, {"clip_value", "foreach"}),
}


def parse_clip_grad(clip_grad: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """Validate ``clip_grad`` up front: ``(kind, kwargs)`` or None when clipping is off."""
    path = "optim_wrapper.clip_grad"
    if clip_grad is None:
        return None
    if not isinstance(clip_grad, Mapping) or not clip_grad:
        raise ConfigError(path, f"expected a non-empty dict such as dict(max_norm=1.0, norm_type=2) or "
                                f"dict(type='value', clip_value=0.5), but got {clip_grad!r}")
    kwargs = dict(clip_grad)
    kind = kwargs.pop("type", "norm")
    if kind not in _CLIP_ARGS:
        raise ConfigError(f"{path}.type", f"expected 'norm' or 'value', but got {kind!r}")
    required, accepted = _CLIP_ARGS[kind]
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(path, f"unexpected key(s) {unknown} for type={kind!r}; accepted: {sorted(accepted)}")
    missing = sorted(required - set(kwargs))
    if missing:
        raise ConfigError(path, f"type={kind!r} needs {missing}, but got {clip_grad!r}")
    return kind, kwargs


_NO_CONTEXT = nullcontext()  # reentrant and stateless: one for every call


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@OPTIM_WRAPPERS.register_module()
class OptimWrapper:
    """Wraps a torch optimizer with accumulation, clipping and a uniform update API.

    Args:
        optimizer: The torch optimizer to drive.
        accumulative_counts: Step once every this many ``update_params`` calls. Each loss is
            divided by the count so the accumulated gradient equals one large batch's; the last,
            shorter window of the run is divided by its own length once
            :meth:`initialize_count_status` told the total.
        clip_grad: ``dict(max_norm=..., norm_type=2)`` (records :attr:`grad_norm`) or
            ``dict(type='value', clip_value=...)``; None disables clipping.
        skip_nonfinite: Skip the optimizer step (and drop the window's gradients) when a loss of
            the window is NaN/inf. Costs one device sync per optimizer step, so it is opt-in.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        accumulative_counts: int = 1,
        clip_grad: Mapping[str, Any] | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "step"):
            raise ConfigError("optim_wrapper.optimizer",
                              f"expected a torch.optim.Optimizer, but got {type(optimizer).__name__}")
        if isinstance(accumulative_counts, bool) or not isinstance(accumulative_counts, int) \
                or accumulative_counts < 1:
            raise ConfigError("optim_wrapper.accumulative_counts",
                              f"expected a positive int, but got {accumulative_counts!r}")
        self.optimizer = optimizer
        self._accumulative_counts = accumulative_counts
        self._clip = parse_clip_grad(clip_grad)
        self.skip_nonfinite = bool(skip_nonfinite)
        self._inner_count = 0
        self._max_counts = -1
        self._remainder_counts = -1
        # Latest total gradient norm (a 0-d tensor, never .item()-ed here) when clipping by norm.
        self.grad_norm: torch.Tensor | None = None
        self._window_finite: torch.Tensor | None = None
        # A sharded wrapper (FSDP1) whose own clip_grad_norm_ sees all shards; learnt in optim_context.
        self._norm_clipper: nn.Module | None = None
        # With several param groups (paramwise_cfg) schedulers also drive a "base" group, whose
        # lr is what gets logged as ``base_lr`` (MMEngine's convention).
        self.base_param_settings: dict[str, Any] | None = None
        if len(optimizer.param_groups) > 1:
            self.base_param_settings = {"params": [], **optimizer.defaults}

    # -- the training step ------------------------------------------------------------------
    def update_params(
        self,
        loss: torch.Tensor,
        step_kwargs: dict[str, Any] | None = None,
        zero_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """``scale_loss`` → ``backward`` → (every N calls) ``step`` (clipping first) → ``zero_grad``."""
        loss = self.scale_loss(loss)
        if self.skip_nonfinite:
            finite = torch.isfinite(loss.detach()).all()
            self._window_finite = finite if self._window_finite is None else self._window_finite & finite
        self.backward(loss)
        if not self.should_update():
            return
        if self.skip_nonfinite and not self._window_is_finite():
            print_log(f"Non-finite loss at iteration {self._inner_count}: skipped the optimizer step "
                      "and dropped the gradients of this accumulation window.", level=logging.WARNING)
            self.zero_grad(**(zero_kwargs or {}))
            return
        if step_kwargs or zero_kwargs:
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))
        else:  # the usual call: no keyword dicts to build and unpack every iteration
            self.step()
            self.zero_grad()

    def _window_is_finite(self) -> bool:
        flag, self._window_finite = self._window_finite, None
        if flag is None:
            return True
        from kiln.dist import is_distributed
        if is_distributed():  # every rank must take the same decision, or DDP would diverge
            import torch.distributed as torch_dist
            flag = flag.to(torch.int32)
            torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MIN)
        return bool(flag)  # deliberate device sync, once per optimizer step, only when opted in

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Divide ``loss`` so that accumulated gradients equal those of one large batch."""
        acc = self._accumulative_counts
        if acc == 1:
            return loss
        if self._max_counts == -1 or self._inner_count < self._max_counts - self._remainder_counts:
            return loss / acc
        return loss / self._remainder_counts  # the last, shorter window of the run

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs: Any) -> None:
        if self._clip is not None:
            self._clip_grad()
        self.optimizer.step(**kwargs)

    def zero_grad(self, **kwargs: Any) -> None:
        if not kwargs:
            self.optimizer.zero_grad(set_to_none=True)
            return
        kwargs.setdefault("set_to_none", True)
        self.optimizer.zero_grad(**kwargs)

    def _grad_params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]
                if p.requires_grad and p.grad is not None]

    def _clip_grad(self) -> None:
        params = self._grad_params()
        if not params:
            return
        kind, kwargs = self._clip  # type: ignore[misc]
        if kind == "norm":
            if self._norm_clipper is not None:  # FSDP1: torch's function would see one shard only
                norm = self._norm_clipper.clip_grad_norm_(kwargs["max_norm"], kwargs.get("norm_type", 2.0))
            else:  # DTensor (FSDP2) gradients: torch's function reduces over all shards itself
                norm = nn.utils.clip_grad_norm_(params, **kwargs)
            full = getattr(norm, "full_tensor", None)  # a replicated DTensor: no communication
            self.grad_norm = (full() if full is not None else norm).detach()
        else:
            nn.utils.clip_grad_value_(params, **kwargs)

    # -- accumulation bookkeeping -----------------------------------------------------------
    def initialize_count_status(self, model: nn.Module, init_counts: int, max_counts: int) -> None:
        """Tell the wrapper where training starts (resume) and how many iterations it has in total."""
        self._inner_count = init_counts
        self._max_counts = max_counts
        acc = self._accumulative_counts
        if init_counts % acc != 0:
            print_log(f"Resumed iteration number {init_counts} is not divisible by accumulative_counts "
                      f"({acc}) (GradientCumulativeOptimizerHook in MMEngine): the current window "
                      "continues from the gradients the parameters hold now; unless the checkpoint "
                      "restored them, the gradient of some iterations is lost.", level=logging.WARNING)
        if acc > 1 and has_batch_norm(model):
            print_log("Gradient accumulative may slightly decrease performance because the model has "
                      "BatchNorm layers.", level=logging.WARNING)
        self._remainder_counts = max_counts % acc if max_counts > 0 else -1

    def should_update(self) -> bool:
        """True when the backward just done closes an accumulation window (time to step)."""
        return self._inner_count % self._accumulative_counts == 0 or self._inner_count == self._max_counts

    def should_sync(self) -> bool:
        """True when the NEXT backward closes a window, so DDP must all-reduce its gradients."""
        nxt = self._inner_count + 1
        return nxt % self._accumulative_counts == 0 or nxt == self._max_counts

    def optim_context(self, model: nn.Module) -> AbstractContextManager[Any]:
        """Wrap forward (+backward): skips DDP's gradient all-reduce on accumulation-only steps."""
        # The class, not the instance: hasattr on an nn.Module without the attribute goes through
        # Module.__getattr__ and a raised AttributeError (~1 µs) on every accumulation step.
        if self._clip is not None and hasattr(type(model), "clip_grad_norm_"):
            self._norm_clipper = model
        if not self.should_sync() and hasattr(type(model), "no_sync"):
            return model.no_sync()
        return _NO_CONTEXT  # a plain, reusable object, not a generator: this runs every iteration

    @property
    def inner_count(self) -> int:
        """``update_params`` calls so far (the run's iterations, counted from a resumed start)."""
        return self._inner_count

    @property
    def max_counts(self) -> int:
        return self._max_counts

    @property
    def accumulative_counts(self) -> int:
        return self._accumulative_counts

    # -- optimizer views ------------------------------------------------------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        if self.base_param_settings is not None:
            return self.optimizer.param_groups + [self.base_param_settings]
        return self.optimizer.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        return self.optimizer.defaults

    def get_lr(self) -> dict[str, list[float]]:
        """``{'lr': [per group]}`` (+ ``'base_lr'`` with several groups)."""
        out: dict[str, list[float]] = {}
        if self.base_param_settings is not None:
            out["base_lr"] = [self.base_param_settings["lr"]]
        out["lr"] = [group["lr"] for group in self.optimizer.param_groups]
        return out

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'momentum': [per group]}``: SGD's ``momentum``, Adam's ``betas[0]``, else 0."""
        values = []
        for group in self.optimizer.param_groups:
            if "momentum" in group:
                values.append(group["momentum"])
            elif "betas" in group:
                values.append(group["betas"][0])
            else:
                values.append(0)
        return {"momentum": values}

    def state_dict(self) -> dict[str, Any]:
        state = self.optimizer.state_dict()
        if self.base_param_settings is not None:
            state["base_param_settings"] = dict(self.base_param_settings)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        base = state_dict.pop("base_param_settings", None)
        if base is not None:
            self.base_param_settings = dict(base)
        self.optimizer.load_state_dict(state_dict)

    def __repr__(self) -> str:
        return (f"Type: {type(self).__name__}\n_accumulative_counts: {self._accumulative_counts}\n"
                f"optimizer: \n{self.optimizer!r}\n")
