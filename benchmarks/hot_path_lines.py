"""Hot-path size: the distinct kiln source lines one training iteration executes.

A deterministic companion to ``runner_overhead.py`` (whose timings are noisy on a shared
machine): it traces iterations of a default-hook ``Runner.train()`` (tiny model, list of batches)
and counts the distinct ``kiln/`` lines run per iteration — once for an iteration that writes no
log line, once for one that does (every ``interval``-th). Fewer lines per iteration means less
to read on the path every step takes, and less interpreter work.

    python benchmarks/hot_path_lines.py [--by-file]

Run it from another checkout (``PYTHONPATH=<checkout>``) to compare two versions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn

import kiln
from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.runner import Runner

KILN_DIR = os.path.dirname(os.path.abspath(kiln.__file__)) + os.sep
TRACED = {12: "no log line", 19: "log line"}  # 0-based iterations: the 13th writes none, the 20th one


class _Net(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.fc(x)
        return {"loss": F.mse_loss(out, y)} if mode == "loss" else out


class _Tracer(Hook):
    """Trace the iteration from its first hook call to the start of the next one."""

    priority = "HIGHEST"

    def __init__(self) -> None:
        self.lines: dict[int, set[tuple[str, int]]] = {}
        self._current: set[tuple[str, int]] | None = None

    def _trace(self, frame, event, arg):
        if frame.f_code.co_filename.startswith(KILN_DIR):
            if event == "line" and self._current is not None:
                self._current.add((frame.f_code.co_filename[len(KILN_DIR):], frame.f_lineno))
            return self._trace
        return None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        sys.settrace(None)
        self._current = None
        if runner.iter in TRACED:
            self._current = self.lines[runner.iter] = set()
            sys.settrace(self._trace)
            sys._getframe(0).f_back.f_trace = self._trace  # the caller's frame (the loop) too

    def after_train(self, runner):
        sys.settrace(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--by-file", action="store_true", help="also list the lines per file")
    args = parser.parse_args()
    x, y = torch.randn(40, 4), torch.randn(40, 1)
    batches = [(x[i:i + 1], y[i:i + 1]) for i in range(40)]
    tracer = _Tracer()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        Runner(model=_Net(), work_dir=tmp, train_dataloader=batches,
               optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
               train_cfg=dict(by_epoch=True, max_epochs=1), custom_hooks=[tracer]).train()
    for it, label in TRACED.items():
        lines = tracer.lines[it]
        print(f"iteration {it + 1} ({label}): {len(lines)} distinct kiln lines executed")
        if args.by_file:
            for name, n in sorted(Counter(f for f, _ in lines).items(), key=lambda kv: -kv[1]):
                print(f"    {n:4d}  {name}")


if __name__ == "__main__":
    main()
