"""``kiln train CONFIG``: what an OpenMMLab ``tools/train.py`` does, as a command."""

from __future__ import annotations

import argparse
from typing import Any

from kiln.cli.common import (
    UserError,
    add_cfg_options,
    add_debug,
    build_runner,
    default_work_dir,
    load_config,
)

__all__ = ["add_parser", "prepare_config", "run"]

LAUNCHERS = ("none", "pytorch", "slurm")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("train", help="train from a config file",
                                 description="Train a model from a config file (.py/.json/.yaml).")
    parser.add_argument("config", help="config file, e.g. configs/x.py")
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default: the config's "
                                           "work_dir, else ./work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                        help="resume from CKPT, or (no value / 'auto') from work_dir's latest checkpoint")
    parser.add_argument("--amp", action="store_true", help="mixed precision (AmpOptimWrapper)")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale the lr by the real batch size (needs auto_scale_lr in the config)")
    add_cfg_options(parser)
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    add_debug(parser)
    parser.set_defaults(handler=run)


def prepare_config(args: argparse.Namespace) -> Any:
    """The config the Runner gets: the file, ``--cfg-options``, then the flags (MMEngine's order)."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = default_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        _enable_amp(cfg)
    if args.auto_scale_lr:
        scale = cfg.get("auto_scale_lr")
        if not isinstance(scale, dict) or "base_batch_size" not in scale:
            raise UserError("--auto-scale-lr", "needs auto_scale_lr = dict(base_batch_size=N) in the config")
        scale["enable"] = True
    if args.resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def _enable_amp(cfg: Any) -> None:
    optim_wrapper = cfg.get("optim_wrapper")
    if not isinstance(optim_wrapper, dict):
        raise UserError("--amp", "needs an optim_wrapper dict in the config")
    kind = optim_wrapper.get("type", "OptimWrapper")
    if kind == "AmpOptimWrapper":
        from kiln.logging import print_log

        print_log("AMP training is already enabled in your config.", logger="current", level=30)
        return
    if kind != "OptimWrapper":
        raise UserError("--amp", f"works when optim_wrapper.type is 'OptimWrapper', but it is {kind!r}")
    optim_wrapper["type"] = "AmpOptimWrapper"
    optim_wrapper.setdefault("loss_scale", "dynamic")


def run(args: argparse.Namespace) -> int:
    build_runner(prepare_config(args)).train()
    return 0
