"""Checkpoint save/load: kiln vs plain ``torch.save``/``torch.load`` of the same state dict.

kiln's save adds an atomic temp-file + fsync + rename and a plain-type check; its load adds
the inert MMEngine stand-ins. This prints, for a state dict of ``--size-mb`` megabytes:

* save and load time (medians of ``--repeats`` alternating runs in this process) and the ratio
  kiln / torch (target <= 1.1). Each save goes to a fresh file after ``os.sync()``, so disk
  writeback of the previous run is not charged to the next. ``torch.save`` returns once the
  data is in the page cache, so the ratio against ``torch.save`` + ``os.fsync`` (what
  durability costs anyway) is printed too;
* peak extra RAM of each operation (peak RSS minus RSS before it, measured in a fresh child
  process each) and kiln's extra over torch's, as a fraction of the checkpoint size (target
  <= 0.1: the save streams into the file, no second in-memory copy).

Run: ``python benchmarks/checkpoint_io.py [--size-mb 256] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def make_state_dict(size_mb: int) -> dict[str, torch.Tensor]:
    """A model-like state dict: many tensors of mixed sizes adding up to ``size_mb``."""
    generator = torch.Generator().manual_seed(0)
    total = size_mb * 2**20 // 4
    tensors, i = {}, 0
    while total > 0:
        n = min(total, (1 << 22) if i % 3 else (1 << 16))  # big weight matrices and small biases
        tensors[f"layer{i}.weight"] = torch.randn(n, generator=generator)
        total -= n
        i += 1
    return tensors


def torch_save(obj, path: str) -> None:
    torch.save(obj, path)


def torch_save_fsync(obj, path: str) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def kiln_save(obj, path: str) -> None:
    from kiln.checkpoint.saving import save_checkpoint

    save_checkpoint(obj, path)


def torch_load(path: str):
    return torch.load(path, map_location="cpu", weights_only=True)


def kiln_load(path: str):
    from kiln.checkpoint.reading import read_checkpoint

    return read_checkpoint(path)


def _median_time(fn, *args, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _timed_save(fn, obj, path: str) -> float:
    """Time one save into a fresh file, with the disk quiet before it.

    The previous file is removed and all dirty pages are written back first (untimed), so one
    variant's background writeback or block discard does not land in the next one's timing.
    """
    if os.path.exists(path):
        os.remove(path)
    os.sync()
    start = time.perf_counter()
    fn(obj, path)
    return time.perf_counter() - start


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(op: str, size_mb: int, path: str) -> None:
    """Measure one operation's peak RSS growth in a fresh process (prints JSON)."""
    import resource

    import kiln.checkpoint.reading  # noqa: F401 - imports are not part of the measurement
    import kiln.checkpoint.saving  # noqa: F401

    obj = {"state_dict": make_state_dict(size_mb)} if op.endswith("save") else None
    before = _rss_bytes()
    fn = {"torch_save": torch_save, "kiln_save": kiln_save, "torch_load": torch_load, "kiln_load": kiln_load}[op]
    result = fn(obj, path) if obj is not None else fn(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del result
    print(json.dumps({"peak_growth": peak - before}))


def _measure_ram(op: str, size_mb: int, path: str) -> int:
    out = subprocess.run([sys.executable, __file__, "--child", op, "--size-mb", str(size_mb), "--path", path],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_growth"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child")
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.size_mb, args.path)
        return

    size = args.size_mb * 2**20
    with tempfile.TemporaryDirectory(dir=os.environ.get("KILN_BENCH_DIR")) as tmp:
        a, b = os.path.join(tmp, "torch.pth"), os.path.join(tmp, "kiln.pth")
        checkpoint = {"state_dict": make_state_dict(args.size_mb)}
        kiln_save(checkpoint, b)  # warm-up (imports, file creation)
        torch_save(checkpoint, a)
        save_t, save_fsync_t, save_k, load_t, load_k = [], [], [], [], []
        for _ in range(args.repeats):  # alternate so drift hits every variant alike
            save_t.append(_timed_save(torch_save, checkpoint, a))
            save_fsync_t.append(_timed_save(torch_save_fsync, checkpoint, a))
            save_k.append(_timed_save(kiln_save, checkpoint, b))
            load_t.append(_median_time(torch_load, a, repeats=1))
            load_k.append(_median_time(kiln_load, b, repeats=1))
        med = statistics.median
        ram = {op: _measure_ram(op, args.size_mb, a if op.startswith("torch") else b)
               for op in ("torch_save", "kiln_save", "torch_load", "kiln_load")}

    print(f"checkpoint: {args.size_mb} MB state dict, medians of {args.repeats} runs")
    print(f"save  torch.save        {med(save_t) * 1e3:8.1f} ms")
    print(f"save  torch.save+fsync  {med(save_fsync_t) * 1e3:8.1f} ms")
    print(f"save  kiln (atomic)     {med(save_k) * 1e3:8.1f} ms   ratio vs torch.save {med(save_k) / med(save_t):.2f}"
          f"   vs torch.save+fsync {med(save_k) / med(save_fsync_t):.2f}   (target <= 1.1)")
    print(f"load  torch.load        {med(load_t) * 1e3:8.1f} ms")
    print(f"load  kiln              {med(load_k) * 1e3:8.1f} ms   ratio {med(load_k) / med(load_t):.2f}   (target <= 1.1)")
    for kind in ("save", "load"):
        base, ours = ram[f"torch_{kind}"], ram[f"kiln_{kind}"]
        print(f"{kind}  peak RAM growth: torch {base / 2**20:7.1f} MB   kiln {ours / 2**20:7.1f} MB   "
              f"kiln extra {(ours - base) / 2**20:+7.1f} MB = {(ours - base) / size:+.3f} x checkpoint size "
              "(target <= 0.1)")


if __name__ == "__main__":
    main()
