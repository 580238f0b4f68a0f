"""The ``kiln`` command: train, test, run scripts, print configs, inspect checkpoints.

::

    kiln train configs/x.py [--work-dir DIR] [--resume [CKPT|auto]] [--amp] [--auto-scale-lr]
                            [--cfg-options k=v ...] [--launcher none|pytorch|slurm]
    kiln test configs/x.py CHECKPOINT [--work-dir DIR] [--out results.pkl] [--cfg-options ...]
    kiln run tools/train.py [args...]      # an MMEngine script, unmodified (= kiln-mmengine)
    kiln config print|dump configs/x.py [OUT] [--cfg-options ...]
    kiln checkpoint inspect FILE | consolidate DCP_DIR OUT

A bad argument or config exits with code 2 and one line on stderr, without a traceback
(``--debug`` shows it). ``python -m kiln`` is the same command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kiln.cli import checkpoint_cmd, config_cmd, run_cmd, test_cmd, train_cmd
from kiln.cli.common import UserError, user_errors

__all__ = ["main", "build_parser", "UserError"]

_COMMANDS = (train_cmd, test_cmd, run_cmd, config_cmd, checkpoint_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="kiln: train and test MMEngine-style "
                                                              "projects from their config files.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of user errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kiln`` (and ``python -m kiln``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with the usage on bad arguments
    args.debug = debug or args.debug
    try:
        return int(args.handler(args) or 0)
    except user_errors() as exc:
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"kiln {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

