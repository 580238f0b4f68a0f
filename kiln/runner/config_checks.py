"""Up-front checks of the Runner's argument groups, so a bad config fails at construction with
ONE message that names what is missing, not deep inside ``train()``."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError
from kiln.logging import print_log

__all__ = ["check_groups", "check_train_cfg", "check_randomness", "check_env_cfg", "check_loop_cfgs"]

_GROUPS = (
    ("training", ("train_dataloader", "train_cfg", "optim_wrapper")),
    ("validation", ("val_dataloader", "val_cfg", "val_evaluator")),
    ("testing", ("test_dataloader", "test_cfg", "test_evaluator")),
)


def _names(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]


def check_groups(args: Mapping[str, Any]) -> None:
    """Each of training/validation/testing needs all three of its arguments, or none.

    Example message: ``optim_wrapper: training needs train_dataloader, train_cfg and
    optim_wrapper together, but got train_dataloader and train_cfg without optim_wrapper``.
    """
    for purpose, keys in _GROUPS:
        given = [k for k in keys if args.get(k) is not None]
        missing = [k for k in keys if args.get(k) is None]
        if given and missing:
            hint = (" (the seeds' `val_cfg=dict()` is enough to enable validation)"
                    if "val_cfg" in missing else "")
            raise ConfigError(", ".join(missing),
                              f"{purpose} needs {_names(list(keys))} together (or none of them), "
                              f"but got {_names(given)} without {_names(missing)}{hint}")
    if args.get("param_scheduler") is not None and args.get("optim_wrapper") is None:
        raise ConfigError("param_scheduler", "param_scheduler needs an optim_wrapper to schedule, "
                                             "but optim_wrapper is None")
    _check_param_scheduler(args.get("param_scheduler"))
    for key in ("default_hooks",):
        value = args.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a dict of name -> hook (or None to remove a default), "
                                   f"but got {type(value).__name__}")
    custom = args.get("custom_hooks")
    if custom is not None and not isinstance(custom, (list, tuple)):
        raise ConfigError("custom_hooks", f"expected a list of hooks or hook configs, but got "
                                          f"{type(custom).__name__}")


def _check_param_scheduler(cfg: Any) -> None:
    if cfg is None:
        return
    items = cfg if isinstance(cfg, (list, tuple)) else [cfg]
    if isinstance(cfg, Mapping) and "type" not in cfg:  # one list per optimizer
        items = [s for value in cfg.values() for s in (value if isinstance(value, (list, tuple)) else [value])]
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and "type" not in item:
            raise ConfigError(f"param_scheduler[{i}]", f"a scheduler config needs a 'type', but got "
                                                       f"keys {sorted(item)}")


def check_train_cfg(cfg: Any) -> dict[str, Any]:
    """Normalise ``train_cfg`` into a loop config with ``type`` (the seeds' ``by_epoch`` form too)."""
    if not isinstance(cfg, Mapping):
        raise ConfigError("train_cfg", f"expected a dict such as dict(by_epoch=True, max_epochs=5), "
                                       f"but got {type(cfg).__name__}")
    cfg = dict(cfg)
    if "type" in cfg and "by_epoch" in cfg:
        raise ConfigError("train_cfg", f"give either a loop `type` or `by_epoch`, not both "
                                       f"(got type={cfg['type']!r}, by_epoch={cfg['by_epoch']!r})")
    if "type" in cfg:
        return cfg
    if "by_epoch" not in cfg:
        raise ConfigError("train_cfg", "needs by_epoch=True (with max_epochs), by_epoch=False "
                                       f"(with max_iters) or a loop `type`, but got keys {sorted(cfg)}")
    by_epoch = cfg.pop("by_epoch")
    cfg["type"] = "EpochBasedTrainLoop" if by_epoch else "IterBasedTrainLoop"
    return cfg


def check_randomness(cfg: Any) -> dict[str, Any]:
    cfg = dict(cfg or {})
    unknown = set(cfg) - {"seed", "deterministic", "diff_rank_seed"}
    if unknown:
        raise ConfigError("randomness", f"unknown key(s) {sorted(unknown)}; expected seed, "
                                        "deterministic, diff_rank_seed")
    return cfg


_ENV_KEYS = ("cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit", "preemption")
# Keys MMEngine accepts without reading them: accepted with a warning, never an error.
_ENV_IGNORED = {"backend": "env_cfg.dist_cfg.backend chooses the backend"}


def _did_you_mean(key: str, choices: Any) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5) or \
        [c for c in choices if c.startswith(key) or key.startswith(c)][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_env_cfg(env_cfg: Any) -> dict[str, Any]:
    """Check ``env_cfg`` and drop the keys MMEngine ignores (warning that kiln ignores them too).

    ``dist_cfg`` keys other than ``backend`` go to ``torch.distributed.init_process_group`` and
    are checked against its signature, so a typo fails even when the run is not distributed.
    """
    if env_cfg is None:
        return dict(dist_cfg=dict(backend="nccl"))
    if not isinstance(env_cfg, Mapping):
        raise ConfigError("env_cfg", f"expected a dict, but got {type(env_cfg).__name__}")
    out = dict(env_cfg)
    for key in list(out):
        if key in _ENV_IGNORED:
            print_log(f"env_cfg.{key} is ignored (by MMEngine too): {_ENV_IGNORED[key]}",
                      logger="current", level=30)
            out.pop(key)
        elif key not in _ENV_KEYS:
            raise ConfigError(f"env_cfg.{key}", f"unknown key{_did_you_mean(key, _ENV_KEYS)}; "
                                                f"expected {', '.join(_ENV_KEYS)}")
    dist_cfg = out.get("dist_cfg")
    if dist_cfg is not None:
        if not isinstance(dist_cfg, Mapping):
            raise ConfigError("env_cfg.dist_cfg", f"expected a dict such as dict(backend='nccl'), "
                                                  f"but got {type(dist_cfg).__name__}")
        import torch.distributed as torch_dist

        accepted = set(inspect.signature(torch_dist.init_process_group).parameters)
        for key in dist_cfg:
            if key not in accepted:
                raise ConfigError(f"env_cfg.dist_cfg.{key}",
                                  f"not an argument of torch.distributed.init_process_group"
                                  f"{_did_you_mean(key, accepted)}; it accepts: {', '.join(sorted(accepted))}")
    return out


def check_loop_cfgs(train_cfg: Any, val_cfg: Any, test_cfg: Any) -> None:
    """Check the loops' arguments now, so ``train_cfg.max_epoch=1`` fails before any work.

    The loops themselves are built later (when ``train()``/``val()``/``test()`` needs them).
    """
    from kiln.registry import LOOPS, check_arguments

    given = [("train_cfg", train_cfg, None, ("runner", "dataloader")),
             ("val_cfg", val_cfg, "ValLoop", ("runner", "dataloader", "evaluator")),
             ("test_cfg", test_cfg, "TestLoop", ("runner", "dataloader", "evaluator"))]
    for path, cfg, default_type, filled in given:
        if not isinstance(cfg, Mapping):
            continue
        cfg = check_train_cfg(cfg) if path == "train_cfg" else {"type": default_type, **cfg}
        loop_cls = LOOPS.resolve(cfg.pop("type"), f"{path}.type")
        check_arguments(loop_cls, {**dict.fromkeys(filled), **cfg}, path)
