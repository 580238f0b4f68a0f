"""``kiln run SCRIPT.py [args]``: run an MMEngine script unmodified (``import mmengine`` → kiln).

The same as ``kiln-mmengine SCRIPT.py``; see :mod:`kiln.compat`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kiln.cli.common import UserError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("run", help="run an MMEngine script on kiln (e.g. tools/train.py)",
                                 description="Run SCRIPT with `import mmengine` resolving to kiln.")
    parser.add_argument("script", help="the Python script")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="its arguments")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not Path(args.script).is_file():
        raise UserError("SCRIPT", f"no such script: {args.script}")
    from kiln.compat import main as run_script

    run_script([args.script, *args.script_args])
    return 0
