"""``python -m kiln.checkpoint consolidate DCP_DIR OUT``: a DCP directory → one full-weights file."""

from __future__ import annotations

import argparse
import sys

from kiln.errors import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.checkpoint", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cons = commands.add_parser("consolidate", help="write a DCP checkpoint's full model state dict to one file")
    cons.add_argument("src_dir", help="the DCP checkpoint directory (e.g. work_dirs/run/iter_1000)")
    cons.add_argument("dst", help="the output file: OUT.pth or OUT.safetensors")
    args = parser.parse_args(argv)
    from kiln.checkpoint.consolidate import consolidate

    try:
        path = consolidate(args.src_dir, args.dst)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
