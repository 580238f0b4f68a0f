"""``build_param_schedulers``: turn the ``param_scheduler`` config into scheduler objects for the Runner.

Fills MMEngine's defaults (``end`` = ``max_epochs`` for by-epoch schedulers, ``max_iters``
otherwise), converts ``convert_to_iter_based=True`` configs with the epoch length, and reports
errors with the config path (``param_scheduler[1].type: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiln.errors import ConfigError
from kiln.optim.optim_wrapper_dict import OptimWrapperDict
from kiln.optim.scheduler.param_scheduler import ParamScheduler
from kiln.registry import PARAM_SCHEDULERS, check_arguments

__all__ = ["build_param_schedulers"]


def build_param_schedulers(
    cfg: Mapping[str, Any] | ParamScheduler | Sequence[Mapping[str, Any] | ParamScheduler] | None,
    optim_wrapper: Any,
    epoch_length: int | None = None,
    max_epochs: int | None = None,
    max_iters: int | None = None,
    path: str = "param_scheduler",
) -> list[ParamScheduler] | dict[str, list[ParamScheduler]]:
    """Build one scheduler per config entry, acting on ``optim_wrapper`` (or a torch optimizer).

    With an :class:`~kiln.optim.OptimWrapperDict` the result is ``{optimizer name: [...]}``.

    Args:
        cfg: A dict, a list of dicts, built schedulers (kept as they are), or None (no schedulers).
        optim_wrapper: What the schedulers drive (its ``param_groups``).
        epoch_length: Iterations per epoch (``len(train_dataloader)``), for ``convert_to_iter_based``.
        max_epochs, max_iters: The default ``end`` of by-epoch / by-iteration schedulers.
        path: Config path used in error messages.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> [s] = build_param_schedulers(dict(type='MultiStepLR', milestones=[1], convert_to_iter_based=True),
        ...                              opt, epoch_length=10, max_epochs=3)
        >>> s.by_epoch, s.end, s.milestones
        (False, 30, {10: 1})
    """
    if cfg is None:
        return []
    if isinstance(optim_wrapper, OptimWrapperDict):
        return _build_per_optimizer(cfg, optim_wrapper, epoch_length, max_epochs, max_iters, path)
    items = [cfg] if isinstance(cfg, (Mapping, ParamScheduler)) else cfg
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ConfigError(path, f"expected a dict, a list of dicts or schedulers, but got {type(cfg).__name__}")
    return [_build_one(item, optim_wrapper, epoch_length, max_epochs, max_iters, f"{path}[{i}]")
            for i, item in enumerate(items)]


def _build_per_optimizer(cfg: Any, optim_wrappers: Any, epoch_length: int | None, max_epochs: int | None,
                         max_iters: int | None, path: str) -> dict[str, list[ParamScheduler]]:
    """``{optimizer name: [schedulers]}`` for an OptimWrapperDict (MMEngine's GAN layout).

    ``dict(generator=[...], discriminator=[...])`` (no ``type``) gives each optimizer its own
    list; a plain list or typed dict is built once for every optimizer.
    """
    per_name = isinstance(cfg, Mapping) and "type" not in cfg
    if per_name:
        unknown = sorted(set(cfg) - set(optim_wrappers.keys()))
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}", f"names no optimizer of optim_wrapper (it has: "
                                                      f"{', '.join(optim_wrappers.keys())})")
    out = {}
    for name, wrapper in optim_wrappers.items():
        if per_name and name not in cfg:
            continue  # this optimizer keeps its lr
        sub_cfg = cfg[name] if per_name else cfg
        out[name] = build_param_schedulers(sub_cfg, wrapper, epoch_length, max_epochs, max_iters,
                                           path=f"{path}.{name}" if per_name else path)
    return out


def _build_one(item: Any, optim_wrapper: Any, epoch_length: int | None, max_epochs: int | None,
               max_iters: int | None, where: str) -> ParamScheduler:
    if isinstance(item, ParamScheduler):
        return item
    if not isinstance(item, Mapping):
        raise ConfigError(where, f"expected a dict with 'type' or a scheduler, but got {type(item).__name__}")
    kwargs = dict(item)
    if "type" not in kwargs:
        raise ConfigError(where, f"missing the key 'type' (e.g. 'MultiStepLR'); got keys {sorted(kwargs)}")
    cls = PARAM_SCHEDULERS.resolve(kwargs.pop("type"), f"{where}.type")
    convert = kwargs.pop("convert_to_iter_based", False)
    by_epoch = kwargs.get("by_epoch", True)
    if "end" not in kwargs:
        default_end = max_epochs if by_epoch else max_iters
        if default_end is not None:
            kwargs["end"] = default_end
    check_arguments(cls, kwargs, where, skip=1)
    try:
        if convert:
            if epoch_length is None:
                raise ConfigError("convert_to_iter_based", "needs the epoch length (iterations per epoch), "
                                                          "but the train dataloader's length is unknown")
            return cls.build_iter_from_epoch(optim_wrapper, epoch_length=epoch_length, **kwargs)
        return cls(optim_wrapper, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc.path}", exc.reason) from None
