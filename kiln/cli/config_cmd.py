"""``kiln config print|dump CONFIG``: the merged config (bases, references, ``--cfg-options``)."""

from __future__ import annotations

import argparse
from typing import Any

from kiln.cli.common import add_cfg_options, add_debug, load_config

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("config", help="print or dump the merged config",
                                 description="Print or dump a config after _base_ merging, "
                                             "reference substitution and --cfg-options.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("print", help="print it as Python")
    show.add_argument("config")
    add_cfg_options(show)
    add_debug(show)
    dump = actions.add_parser("dump", help="write it to OUT (.py, .json or .yaml)")
    dump.add_argument("config")
    dump.add_argument("out", help="output file; its suffix picks the format")
    add_cfg_options(dump)
    add_debug(dump)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.cfg_options)
    if args.action == "print":
        print(cfg.dump(), end="")
    else:
        cfg.dump(args.out)
    return 0
