"""``kiln test CONFIG CHECKPOINT``: what an OpenMMLab ``tools/test.py`` does, as a command."""

from __future__ import annotations

import argparse
from pathlib import Path
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


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("test", help="test a checkpoint",
                                 description="Run the config's test loop on a checkpoint.")
    parser.add_argument("config", help="config file, e.g. configs/x.py")
    parser.add_argument("checkpoint", help="checkpoint file (.pth)")
    parser.add_argument("--work-dir", help="where the test log goes")
    parser.add_argument("--out", help="also pickle the predictions to this .pkl file")
    add_cfg_options(parser)
    parser.add_argument("--launcher", choices=("none", "pytorch", "slurm"), default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    add_debug(parser)
    parser.set_defaults(handler=run)


def prepare_config(args: argparse.Namespace) -> Any:
    if not args.checkpoint.startswith(("http://", "https://")) and not Path(args.checkpoint).is_file():
        raise UserError("CHECKPOINT", f"no such checkpoint file: {args.checkpoint}")
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = default_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out is not None:
        if not args.out.endswith((".pkl", ".pickle")):
            raise UserError("--out", f"the output file must end with .pkl or .pickle, but got {args.out!r}")
        evaluator = cfg.get("test_evaluator")
        evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator] if evaluator else []
        cfg.test_evaluator = [*evaluators, dict(type="DumpResults", out_file_path=args.out)]
    return cfg


def run(args: argparse.Namespace) -> int:
    build_runner(prepare_config(args)).test()
    return 0
