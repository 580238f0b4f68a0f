"""Framework overhead of ``BaseModel.train_step`` vs the same step written by hand.

Both sides train the same small MLP on the same in-memory batch with SGD: the hand-written step is
``forward → loss → backward → step → zero_grad(set_to_none=True)``; kiln's is
``model.train_step(batch, OptimWrapper(...))`` (preprocessor, optim_context, parse_losses with
detached log values, update_params). Blocks of steps alternate between the two so that machine
noise hits both alike; the ratio of the medians is printed. Target: <= 1.03.

Time is the CPU time of this (single, ``torch.set_num_threads(1)``) thread, which does all the
work here: unlike wall-clock time it does not count the time other processes on a shared machine
hold the core, so the two medians compare the work each step does. A second line measures a tiny
MLP, where the step is almost all Python, to show kiln's fixed cost per step in microseconds.

Run: ``python benchmarks/train_step.py [--reps 1000] [--steps 1] [--width 512] [--batch 128]``
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from kiln.model import BaseModel
from kiln.optim import OptimWrapper


class MLP(BaseModel):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 10))

    def forward(self, inputs, labels=None, mode="tensor"):
        logits = self.net(inputs)
        if mode == "loss":
            return {"loss": nn.functional.cross_entropy(logits, labels)}
        return logits if mode == "tensor" else [logits]


def _time_block(fn, steps: int) -> float:
    start = time.thread_time()
    for _ in range(steps):
        fn()
    return (time.thread_time() - start) / steps


def measure(width: int, batch: int, reps: int, steps: int) -> tuple[float, float]:
    """Median seconds per step of (kiln train_step, hand-written step), blocks interleaved."""
    torch.manual_seed(0)
    model = MLP(width)
    raw = copy.deepcopy(model.net)
    x, y = torch.randn(batch, width), torch.randint(0, 10, (batch,))
    data = {"inputs": x, "labels": y}
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
    raw_opt = torch.optim.SGD(raw.parameters(), lr=1e-3)

    def kiln_step() -> None:
        model.train_step(data, wrapper)

    def raw_step() -> None:
        loss = nn.functional.cross_entropy(raw(x), y)
        loss.backward()
        raw_opt.step()
        raw_opt.zero_grad(set_to_none=True)

    for _ in range(steps):  # warm-up
        kiln_step()
        raw_step()
    kiln_t, raw_t = [], []
    for rep in range(reps):
        pair = [(kiln_t, kiln_step), (raw_t, raw_step)]
        for times, fn in (pair if rep % 2 == 0 else pair[::-1]):  # alternate who goes first
            times.append(_time_block(fn, steps))
    return statistics.median(kiln_t), statistics.median(raw_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="timed blocks per side")
    parser.add_argument("--steps", type=int, default=1, help="steps per block")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)  # steadier timings on a shared machine; both sides alike

    k, r = measure(args.width, args.batch, args.reps, args.steps)
    print(f"small MLP 3x Linear(width={args.width}), batch={args.batch}, SGD, 1 thread, thread CPU time; "
          f"{args.reps} interleaved blocks x {args.steps} steps")
    print(f"hand-written step: {r * 1e6:9.1f} us (median)")
    print(f"model.train_step : {k * 1e6:9.1f} us (median)  overhead {(k - r) * 1e6:+.1f} us/step")
    print(f"ratio train_step / hand-written = {k / r:.3f} (target <= 1.03)")
    # The fixed cost per step, seen on a model so tiny that the step is nearly all Python overhead.
    k, r = measure(16, 8, args.reps * 3, args.steps)
    print(f"(tiny MLP width=16 batch=8, fixed cost: hand {r * 1e6:.1f} us, train_step {k * 1e6:.1f} us, "
          f"overhead {(k - r) * 1e6:+.1f} us/step, ratio {k / r:.3f})")


if __name__ == "__main__":
    main()
