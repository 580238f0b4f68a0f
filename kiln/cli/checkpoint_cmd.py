"""``kiln checkpoint inspect FILE`` (keys, shapes, meta; loaded with ``weights_only``) and
``kiln checkpoint consolidate DCP_DIR OUT`` (a sharded DCP checkpoint → one file)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from kiln.cli.common import UserError, add_debug

__all__ = ["add_parser", "run", "describe"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("checkpoint", help="inspect or consolidate checkpoints")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    inspect = actions.add_parser("inspect", help="print a checkpoint's keys, shapes and meta")
    inspect.add_argument("file")
    add_debug(inspect)
    consolidate = actions.add_parser("consolidate", help="merge a sharded DCP checkpoint into one file")
    consolidate.add_argument("src", help="the DCP checkpoint directory")
    consolidate.add_argument("dst", help="the output file")
    add_debug(consolidate)
    parser.set_defaults(handler=run)


def _tensor_line(key: str, value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"  {key}: {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    return f"  {key}: {type(value).__name__}"


def describe(checkpoint: Mapping[str, Any], filename: str) -> str:
    """The text ``inspect`` prints: file, top-level keys, meta, then each weight's shape."""
    import torch

    lines = [f"file: {filename} ({os.path.getsize(filename) / 2**20:.1f} MiB)",
             f"keys: {', '.join(map(str, checkpoint))}"]
    meta = checkpoint.get("meta")
    if isinstance(meta, Mapping):
        lines.append("meta:")
        lines += [f"  {k}: {v!r}"[:200] for k, v in meta.items() if k not in ("cfg", "config")]
        if "cfg" in meta or "config" in meta:
            size = len(str(meta.get("cfg", meta.get("config"))))
            lines.append(f"  cfg: (the run's config, {size} characters)")
    state = checkpoint.get("state_dict", checkpoint if "meta" not in checkpoint else {})
    if isinstance(state, Mapping):
        tensors = [v for v in state.values() if isinstance(v, torch.Tensor)]
        count = sum(t.numel() for t in tensors)
        lines.append(f"state_dict: {len(state)} entries, {count:,} numbers")
        lines += [_tensor_line(str(k), v) for k, v in state.items()]
    optimizer = checkpoint.get("optimizer")
    if isinstance(optimizer, Mapping) and "param_groups" in optimizer:
        groups = optimizer["param_groups"]
        lrs = sorted({g.get("lr") for g in groups if isinstance(g, Mapping)}, key=str)
        lines.append(f"optimizer: {len(groups)} param group(s), lr {lrs}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.action == "inspect":
        if not os.path.isfile(args.file):
            raise UserError("FILE", f"no such checkpoint file: {args.file}")
        from kiln.checkpoint.loading import load_checkpoint_file

        checkpoint = load_checkpoint_file(args.file, map_location="cpu", log=False)
        print(describe(checkpoint, args.file))
        return 0
    try:
        from kiln.checkpoint.consolidate import consolidate
    except ImportError:
        raise UserError("checkpoint consolidate", "this kiln has no kiln.checkpoint.consolidate "
                                                  "(sharded DCP checkpoints are not supported yet)") from None
    if not os.path.isdir(args.src):
        raise UserError("DCP_DIR", f"no such directory: {args.src}")
    consolidate(args.src, args.dst)
    print(f"wrote {args.dst}")
    return 0
