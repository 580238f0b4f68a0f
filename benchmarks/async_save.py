"""Async checkpoint saves: how long training is blocked per save, vs a synchronous save.

A model with ``--size-mb`` megabytes of float32 weights is saved through the Runner
(``runner.save_checkpoint``, what ``CheckpointHook`` calls) in the single-file (``pth``) and the
DCP format, synchronously and with ``async_save=True``. For the async save the blocked time is
until the call returns (the state is staged in CPU memory; the write continues in the
background); the write is then waited for, outside the timing. Each save goes to a fresh path
after ``os.sync()``. Prints the medians of ``--repeats`` runs and, per format, the ratio
blocked-async / sync (target <= 0.2).

Run: ``python benchmarks/async_save.py [--size-mb 256] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from kiln.model import BaseModel  # noqa: E402


class Big(BaseModel):
    def __init__(self, size_mb: int) -> None:
        super().__init__()
        width = 2048
        layers = max(1, size_mb * 2**20 // (4 * width * width))
        self.layers = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))

    def forward(self, x, mode="tensor"):
        for layer in self.layers:
            x = layer(x)
        return {"loss": x.mean()} if mode == "loss" else x


def _runner(work_dir: str, size_mb: int):
    from kiln.runner import Runner

    data = [torch.zeros(2048) for _ in range(2)]
    return Runner(model=Big(size_mb), work_dir=work_dir, train_dataloader=dict(dataset=data, batch_size=1),
                  optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)), train_cfg=dict(by_epoch=False, max_iters=1),
                  default_hooks=dict(logger=None, checkpoint=None), log_level="WARNING")


def _time_save(runner, out_dir: str, name: str, save_format: str, async_save: bool) -> float:
    os.sync()
    start = time.perf_counter()
    saved = runner.save_checkpoint(out_dir, name, save_optimizer=False, save_format=save_format,
                                   async_save=async_save)
    blocked = time.perf_counter() - start
    if async_save:
        saved.wait()
    return blocked


def main() -> None:
    warnings.filterwarnings("ignore", message=r".*assuming the intent is to")  # one process: no group, on purpose
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runner = _runner(os.path.join(tmp, "work"), args.size_mb)
        size = sum(p.numel() * p.element_size() for p in runner.model.parameters()) / 2**20
        print(f"model state: {size:.0f} MB")
        for save_format, ext in (("pth", ".pth"), ("dcp", "")):
            times: dict[bool, list[float]] = {False: [], True: []}
            for i in range(args.repeats):
                for async_save in (False, True):
                    name = f"{save_format}_{int(async_save)}_{i}{ext}"
                    times[async_save].append(_time_save(runner, os.path.join(tmp, "out"), name, save_format,
                                                        async_save))
            sync, blocked = statistics.median(times[False]), statistics.median(times[True])
            print(f"{save_format}: synchronous save {sync:.3f} s, async save blocks training {blocked:.3f} s; "
                  f"ratio blocked/sync = {blocked / sync:.3f} (target <= 0.2)")


if __name__ == "__main__":
    main()
