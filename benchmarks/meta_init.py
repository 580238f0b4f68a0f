"""Peak memory to start an FSDP2 model: built on ``meta`` then sharded vs built whole then sharded.

For a model of P bytes of fp32 parameters (``--size-gb``, default 1.5), each path runs in a fresh
child process (a 1-process gloo group: world size 1, so one rank holds every shard — the
worst case for the meta path, and the one a CPU machine can measure). The child records its
resident set before the model exists and its peak (``VmHWM`` from ``/proc/self/status``, the
same number as ``resource.getrusage().ru_maxrss``) after the model is sharded, materialized and
initialized (``reset_parameters`` + ``init_weights``), and prints ``(peak - before) / P``:

* meta path (what the Runner does for ``model=dict(...)`` with FSDP2): target <= 1.1 x P/world —
  only this rank's shards are ever allocated;
* build-then-shard (a built model handed to FSDP2): every rank holds the full model first
  (>= 1 x P), plus the sharded copy of one unit at a time (2 x P when the root is the only unit).

``--world N`` measures rank 0 of N ranks in one process through torch's fake process group
(collectives are no-ops), which is where the meta path pays off: P/N instead of P.

Run: ``python benchmarks/meta_init.py [--size-gb 1.5] [--world 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys


def _child(path: str, size_gb: float, world: int) -> None:
    import torch
    import torch.distributed as torch_dist
    from torch import nn

    from kiln.model import BaseModel
    from kiln.model.wrappers.fsdp2 import FullyShardWrapper

    class Stack(BaseModel):
        def __init__(self, layers: int, width: int) -> None:
            super().__init__(init_cfg=dict(type="Kaiming", layer="Linear"))
            self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))

        def forward(self, x, mode="tensor"):
            for layer in self.layers:
                x = layer(x)
            return x

    if world == 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    else:  # rank 0 of a pretend world: torch's fake process group (collectives are no-ops)
        from torch.testing._internal.distributed.fake_pg import FakeStore

        torch_dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
    torch.set_num_threads(1)
    width = 4096
    layers = max(1, round(size_gb * 2**30 / (4 * width * (width + 1))))
    before = _rss_kb("VmRSS")
    if path == "meta":
        with torch.device("meta"):
            model = Stack(layers, width)
    else:
        model = Stack(layers, width)
    wrapped = FullyShardWrapper(model)
    params = sum(p.numel() * p.element_size() for p in wrapped.parameters())  # the full model: P
    assert not any(p.is_meta for p in wrapped.parameters())
    peak = _rss_kb("VmHWM")
    torch_dist.destroy_process_group()
    print(json.dumps(dict(path=path, bytes=params, ratio=(peak - before) * 1024 / params)))


def _rss_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.5)
    parser.add_argument("--world", type=int, default=1,
                        help="> 1: be rank 0 of that many ranks (fake process group, no communication)")
    parser.add_argument("--child", choices=("meta", "build"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.size_gb, args.world)
        return
    results = {}
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for path in ("meta", "build"):
        out = subprocess.run([sys.executable, __file__, "--child", path, "--size-gb", str(args.size_gb),
                              "--world", str(args.world)],
                             check=True, capture_output=True, text=True, env=env).stdout
        results[path] = json.loads(out.strip().splitlines()[-1])
    size, world = results["meta"]["bytes"] / 2**30, args.world
    how = "one gloo process" if world == 1 else "rank 0 of a fake process group (no communication)"
    print(f"model: P = {size:.2f} GiB of fp32 parameters; FSDP2 over world size {world} ({how})")
    for path, label, target in (("meta", "meta path       ", "target <= 1.1 x P/world"),
                                ("build", "build-then-shard", "holds the full model: >= 1 x P")):
        ratio = results[path]["ratio"]
        print(f"{label} peak extra RSS = {ratio:.3f} x P = {ratio * world:.3f} x this rank's shards "
              f"(P/{world})  [{target}]")

if __name__ == "__main__":
    main()
