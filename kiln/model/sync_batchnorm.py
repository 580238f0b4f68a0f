"""Swap BatchNorm layers for SyncBatchNorm (multi-process training) and back (export, 1 process).

Both directions move the *same* parameter and buffer tensors into the new layer, so the round trip
keeps running statistics, affine parameters and ``num_batches_tracked`` exactly, and an optimizer
built before the swap still updates the new layer's parameters.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from kiln.errors import ConfigError

__all__ = ["convert_sync_batchnorm", "revert_sync_batchnorm"]


class _BatchNormXd(_BatchNorm):
    """A BatchNorm that accepts any input rank: what a SyncBatchNorm of unknown rank reverts to."""

    def _check_input_dim(self, input) -> None:  # noqa: A002 - torch's signature
        return


def _copy_state(src: _BatchNorm, dst: _BatchNorm) -> _BatchNorm:
    if src.affine:
        dst.weight = src.weight  # same Parameter objects
        dst.bias = src.bias
    if src.track_running_stats:
        dst.running_mean = src.running_mean
        dst.running_var = src.running_var
        dst.num_batches_tracked = src.num_batches_tracked
    dst.training = src.training
    if hasattr(src, "qconfig"):
        dst.qconfig = src.qconfig
    return dst


def _new_like(cls: type, bn: _BatchNorm, **kwargs) -> _BatchNorm:
    return cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, **kwargs)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.SyncBatchNorm`` in ``module`` by an equivalent plain BatchNorm.

    Returns the new root (``module`` itself unless it is a SyncBatchNorm).
    """
    if isinstance(module, nn.SyncBatchNorm):
        new = _copy_state(module, _new_like(_BatchNormXd, module))
    else:
        new = module
    for name, child in module.named_children():
        new.add_module(name, revert_sync_batchnorm(child))
    return new


def convert_sync_batchnorm(
    module: nn.Module,
    implementation: str = "torch",
    process_group=None,
) -> nn.Module:
    """Replace every BatchNorm in ``module`` by ``nn.SyncBatchNorm`` (statistics across ranks).

    Args:
        module: The model (or a layer).
        implementation: ``'torch'`` (``nn.SyncBatchNorm``) or ``'mmcv'`` (needs mmcv-full).
        process_group: Group to synchronise over (default: the whole world).

    Returns:
        The new root (``module`` itself unless it is a BatchNorm).
    """
    if implementation == "torch":
        sync_cls, kwargs = nn.SyncBatchNorm, {"process_group": process_group}
    elif implementation == "mmcv":
        try:
            from mmcv.ops import SyncBatchNorm as sync_cls  # noqa: N813 - optional dependency
        except ImportError as exc:
            raise ImportError("convert_sync_batchnorm(implementation='mmcv') needs mmcv-full "
                              "(mmcv.ops.SyncBatchNorm); use implementation='torch'") from exc
        kwargs = {"group": process_group} if process_group is not None else {}
    else:
        raise ConfigError("sync_bn", f"expected 'torch' or 'mmcv', but got {implementation!r}")
    return _convert(module, sync_cls, kwargs)


def _convert(module: nn.Module, sync_cls: type, kwargs: dict) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, sync_cls):
        new = _copy_state(module, _new_like(sync_cls, module, **kwargs))
    else:
        new = module
    for name, child in module.named_children():
        new.add_module(name, _convert(child, sync_cls, kwargs))
    return new
