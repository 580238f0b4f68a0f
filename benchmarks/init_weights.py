"""Cost of ``BaseModule.init_weights()`` (validation + report tracking included) vs a plain loop.

Builds a ViT-Base-shaped model (12 ``nn.TransformerEncoderLayer``, d=768, ff=3072) as a
BaseModule with ``init_cfg=[TruncNormal std=0.02 on Linear, Constant 1/0 on LayerNorm]`` and
times ``init_weights()`` against the same initialization written as a plain ``torch.nn.init``
loop, medians of 5 runs in this process. The loop mirrors exactly what the config touches:
every module whose class or DIRECT base is ``Linear`` (so attention's
``NonDynamicallyQuantizableLinear`` out_proj too) and every ``LayerNorm``; attention's raw
``in_proj_weight`` Parameter is left alone by both. Target: ratio <= 1.05.

Run: ``python benchmarks/init_weights.py [--device cuda]``
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import torch
import torch.nn as nn

from kiln.logging import get_logger
from kiln.model import BaseModule

INIT_CFG = [dict(type="TruncNormal", layer="Linear", std=0.02),
            dict(type="Constant", layer="LayerNorm", val=1, bias=0)]


class ViTBase(BaseModule):
    def __init__(self, init_cfg=None, depth: int = 12, dim: int = 768, ff: int = 3072) -> None:
        super().__init__(init_cfg)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, 12, ff, batch_first=True, norm_first=True)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1000)


def _names(m: nn.Module) -> set[str]:
    return {type(m).__name__, *(b.__name__ for b in type(m).__bases__)}


def plain_init(model: nn.Module) -> None:
    for m in model.modules():
        names = _names(m)
        if "Linear" in names:
            nn.init.trunc_normal_(m.weight, mean=0, std=0.02, a=-2, b=2)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        if "LayerNorm" in names:
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # timing boundary only


def _time(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    get_logger(log_level=logging.WARNING)  # time the work, not printing 200 report blocks
    model = ViTBase(INIT_CFG).to(device)
    kiln_times, plain_times = [], []
    for run in range(args.runs + 1):  # first round warms up allocator and kernels
        for m in model.modules():
            if isinstance(m, BaseModule):
                m.is_init = False
        # Alternate which goes first, so load drift on a shared machine hits both alike.
        if run % 2:
            plain_times.append(_time(lambda: plain_init(model), device))
        kiln_times.append(_time(model.init_weights, device))
        if not run % 2:
            plain_times.append(_time(lambda: plain_init(model), device))
    overhead = bookkeeping_overhead(args.runs)
    kiln_t = statistics.median(kiln_times[1:])
    plain_t = statistics.median(plain_times[1:])
    n = sum(p.numel() for p in model.parameters())
    print(f"ViT-Base ({n / 1e6:.1f}M params) on {device}: init_weights {kiln_t * 1e3:.1f} ms, "
          f"plain torch.nn.init loop {plain_t * 1e3:.1f} ms, ratio {kiln_t / plain_t:.3f} "
          f"(median of {args.runs}; target <= 1.05)")
    print(f"kiln's own work (cfg check, matching, report), measured on the meta device where no "
          f"numbers are drawn: {overhead * 1e3:.1f} ms = {overhead / plain_t * 100:.1f}% of the "
          f"plain init above, i.e. a less noise-sensitive ratio estimate of {(plain_t + overhead) / plain_t:.3f}")


def bookkeeping_overhead(runs: int) -> float:
    """Median time of init_weights() minus the plain loop on a meta-device copy of the model.

    The shared benchmark machine is noisy; this isolates what kiln adds from what torch draws.
    """
    with torch.device("meta"):
        model = ViTBase(INIT_CFG)
    kiln_times, plain_times = [], []
    for _ in range(runs + 1):
        for m in model.modules():
            if isinstance(m, BaseModule):
                m.is_init = False
        kiln_times.append(_time(model.init_weights, torch.device("meta")))
        plain_times.append(_time(lambda: plain_init(model), torch.device("meta")))
    return max(0.0, statistics.median(kiln_times[1:]) - statistics.median(plain_times[1:]))


if __name__ == "__main__":
    main()
