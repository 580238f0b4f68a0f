"""Build the Runner's components from their configs: model (+ device/DDP wrapping), evaluator,
message hub, log processor, visualizer, and the batch-size lr scaling.

Each function takes what it needs explicitly, so the Runner's constructor stays a list of steps
and the rules (MMEngine's) can be read in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kiln.dist import get_device
from kiln.errors import ConfigError
from kiln.registry import (
    EVALUATOR,
    LOG_PROCESSORS,
    MODEL_WRAPPERS,
    MODELS,
    VISUALIZERS,
    build_from_cfg,
)

__all__ = ["build_model", "is_fsdp2", "wrap_model", "build_evaluator", "build_message_hub", "build_log_processor",
           "build_visualizer", "scale_lr"]


def build_model(model: nn.Module | Mapping[str, Any], data_preprocessor: Mapping[str, Any] | None = None,
                wrapper_cfg: Mapping[str, Any] | None = None, distributed: bool = False) -> nn.Module:
    """A model instance as is; a ``MODELS`` config built (``data_preprocessor`` filled in if absent).

    A config under a distributed FSDP2 wrapper is built on the ``meta`` device (no memory for the
    weights): the wrapper shards it, materializes only this rank's shards and then initializes it.
    The wrapper's config values are checked first, so a typo fails before the model is built.
    """
    if isinstance(model, nn.Module):
        return model
    if not isinstance(model, Mapping):
        raise ConfigError("model", f"expected an nn.Module or a model config dict, but got {type(model).__name__}")
    cfg = dict(model)
    if data_preprocessor is not None:
        cfg.setdefault("data_preprocessor", data_preprocessor)
    if not (distributed and is_fsdp2(wrapper_cfg)):
        return build_from_cfg(cfg, MODELS, path="model")
    from kiln.dist import get_world_size
    from kiln.model.wrappers.fsdp2_config import check_fsdp2_cfg

    check_fsdp2_cfg(wrapper_cfg, get_world_size())  # type: ignore[arg-type]
    if isinstance(cfg.get("data_preprocessor"), Mapping):  # small, with real buffers (mean/std)
        cfg["data_preprocessor"] = build_from_cfg(dict(cfg["data_preprocessor"]), MODELS,
                                                  path="model.data_preprocessor")
    with torch.device("meta"):
        return build_from_cfg(cfg, MODELS, path="model")


def is_fsdp2(wrapper_cfg: Mapping[str, Any] | None) -> bool:
    """True when ``model_wrapper_cfg`` names the FSDP2 wrapper (without importing FSDP)."""
    if not isinstance(wrapper_cfg, Mapping):
        return False
    kind = wrapper_cfg.get("type")
    if isinstance(kind, str):
        from kiln.model.wrappers.utils import FSDP2_NAMES

        return kind in FSDP2_NAMES
    if isinstance(kind, type):
        from kiln.model.wrappers.fsdp2 import FullyShardWrapper

        return issubclass(kind, FullyShardWrapper)
    return False


def wrap_model(model: nn.Module, wrapper_cfg: Mapping[str, Any] | None, distributed: bool,
               cfg: Mapping[str, Any], logger: logging.Logger) -> nn.Module:
    """Move ``model`` to the device; when distributed, wrap it (default ``MMDistributedDataParallel``).

    Non-distributed runs revert SyncBN layers to BatchNorm; ``cfg.sync_bn`` converts BatchNorm to
    SyncBN in distributed runs; ``cfg.find_unused_parameters`` goes to the default DDP wrapper.
    """
    from kiln.model.wrappers import is_model_wrapper

    if is_model_wrapper(model):
        if wrapper_cfg is not None:
            raise ConfigError("model_wrapper_cfg", "the model is already wrapped; remove "
                                                   "model_wrapper_cfg or pass the bare model")
        return model
    if not (distributed and is_fsdp2(wrapper_cfg)):  # FSDP2 places (and materializes) the shards itself
        model = model.to(get_device())
    if not distributed:
        from kiln.model.utils import revert_sync_batchnorm

        logger.info("Distributed training is not used, all SyncBatchNorm (SyncBN) layers in the model "
                    "will be automatically reverted to BatchNormXd layers if they are used.")
        return revert_sync_batchnorm(model)
    if cfg.get("sync_bn"):
        from kiln.model.utils import convert_sync_batchnorm

        model = convert_sync_batchnorm(model, implementation=cfg["sync_bn"])
    args = dict(wrapper_cfg or dict(type="MMDistributedDataParallel", broadcast_buffers=False,
                                    find_unused_parameters=cfg.get("find_unused_parameters", False)))
    wrapper_type = MODEL_WRAPPERS.resolve(args.get("type", "MMDistributedDataParallel"), "model_wrapper_cfg.type")
    args["type"] = wrapper_type
    if wrapper_cfg is None and issubclass(wrapper_type, torch.nn.parallel.DistributedDataParallel):
        device = get_device()
        args.setdefault("device_ids", [device.index] if device.type == "cuda" else None)
    return build_from_cfg(args, MODEL_WRAPPERS, dict(module=model), path="model_wrapper_cfg")


def build_evaluator(evaluator: Any) -> Any:
    """An evaluator as is; ``dict(metrics=...)`` → ``EVALUATOR``; a metric dict or list → ``Evaluator``."""
    if hasattr(evaluator, "process") and hasattr(evaluator, "evaluate"):
        return evaluator
    if isinstance(evaluator, Mapping) and "metrics" in evaluator:
        cfg = dict(evaluator)
        cfg.setdefault("type", "Evaluator")
        return build_from_cfg(cfg, EVALUATOR, path="evaluator")
    if isinstance(evaluator, (Mapping, list, tuple)):
        return EVALUATOR.resolve("Evaluator", "evaluator.type")(evaluator)
    raise ConfigError("evaluator", f"expected an Evaluator, a metric config dict, dict(metrics=...) "
                                   f"or a list, but got {type(evaluator).__name__}")


def build_message_hub(name: str) -> Any:
    """A fresh hub per runner (two runs started in the same second must not share history)."""
    from kiln.logging.message_hub import MessageHub

    unique, n = name, 1
    while MessageHub.check_instance_created(unique):
        unique, n = f"{name}_{n}", n + 1
    return MessageHub.get_instance(unique)


def build_log_processor(cfg: Any, train_cfg: Any = None) -> Any:
    """``LogProcessor`` from ``cfg``; its ``by_epoch`` follows ``train_cfg.by_epoch`` unless given,
    so an iteration-based run logs ``Iter(train)`` lines without a second setting."""
    if cfg is not None and not isinstance(cfg, Mapping):
        return cfg
    cfg = dict(cfg or {})
    cfg.setdefault("type", "LogProcessor")
    if isinstance(train_cfg, Mapping) and "by_epoch" in train_cfg:
        cfg.setdefault("by_epoch", bool(train_cfg["by_epoch"]))
    return build_from_cfg(cfg, LOG_PROCESSORS, path="log_processor")


def build_visualizer(cfg: Any, name: str, save_dir: str) -> Any:
    """A fresh visualizer (it becomes the current one), writing under ``save_dir`` by default."""
    if cfg is not None and not isinstance(cfg, Mapping):
        return cfg
    cfg = dict(cfg or dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")]))
    cfg.setdefault("type", "Visualizer")
    cfg.setdefault("name", name)
    cfg.setdefault("save_dir", save_dir)
    return build_from_cfg(cfg, VISUALIZERS, path="visualizer")


def scale_lr(optim_wrapper: Any, auto_scale_lr: Mapping[str, Any] | None, real_batch_size: int,
             logger: logging.Logger) -> None:
    """Scale every lr by ``real_batch_size / base_batch_size`` when ``auto_scale_lr.enable``."""
    if not auto_scale_lr or not auto_scale_lr.get("enable", False):
        return
    if "base_batch_size" not in auto_scale_lr:
        raise ConfigError("auto_scale_lr", "needs base_batch_size when enable=True")
    base = auto_scale_lr["base_batch_size"]
    ratio = real_batch_size / base
    logger.info(f"LR is set based on batch size of {base} and the current batch size is "
                f"{real_batch_size}. Scaling the original LR by {ratio}.")
    groups = optim_wrapper.param_groups  # an OptimWrapperDict gives {name: groups}
    for group_list in groups.values() if isinstance(groups, Mapping) else [groups]:
        for group in group_list:
            group["lr"] = group["lr"] * ratio
