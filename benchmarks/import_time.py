"""Time ``import kiln.model`` adds on top of ``import torch`` (fresh subprocesses, median of 5).

Also reports ``from kiln.model import BaseModule, initialize`` (what a user script does), which
imports the weight-init modules themselves. Target: <= 0.15 s.

Run: ``python benchmarks/import_time.py``
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CODE = """
import time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
{stmt}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def measure(stmt: str, runs: int = 5) -> tuple[float, float]:
    torch_t, extra = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CODE.format(stmt=stmt)], check=True,
                             capture_output=True, text=True).stdout.split()
        torch_t.append(float(out[0]))
        extra.append(float(out[1]))
    return statistics.median(torch_t), statistics.median(extra)


def main() -> None:
    for stmt in ("import kiln.model", "from kiln.model import BaseModule, initialize"):
        torch_t, extra = measure(stmt)
        print(f"{stmt!r}: +{extra:.3f} s on top of import torch ({torch_t:.2f} s), "
              f"median of 5 (target <= 0.15 s)")


if __name__ == "__main__":
    main()
