"""What preemption handling costs per training iteration.

* single process: the train loop's one host-side compare (``iteration >= preemption.next_check``)
  against the same loop without it (ns per iteration; no device sync either way);
* distributed (2 gloo processes on this machine): the ranks' agreement, one all-reduce of a
  1-element tensor, measured per call and amortised over ``check_interval`` (default 10);
* the alternative, a store lookup per iteration (``store.check``, what a per-iteration
  background-key poll would cost on the main thread), for comparison.

Run: ``python benchmarks/preemption_check.py``
"""

from __future__ import annotations

import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kiln.runner.preemption import Preemption

N = 2_000_000


def _host_check_ns() -> tuple[float, float]:
    preemption = Preemption(distributed=False)
    best_with, best_without = float("inf"), float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for it in range(N):
            if it >= preemption.next_check:
                preemption.at_boundary(None)
        best_with = min(best_with, (time.perf_counter_ns() - start) / N)
        start = time.perf_counter_ns()
        for _it in range(N):
            pass
        best_without = min(best_without, (time.perf_counter_ns() - start) / N)
    return best_with, best_without


def _worker(rank: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    flag = torch.zeros(1, dtype=torch.int32)
    for _ in range(50):
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    calls = 2000
    dist.barrier()
    start = time.perf_counter()
    for _ in range(calls):
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        flag.item()
    reduce_us = (time.perf_counter() - start) / calls * 1e6
    store = dist.distributed_c10d._get_default_store()
    start = time.perf_counter()
    for _ in range(calls):
        store.check(["kiln/preempt"])
    store_us = (time.perf_counter() - start) / calls * 1e6
    if rank == 0:
        queue.put((reduce_us, store_us))
    dist.destroy_process_group()


def main() -> None:
    with_check, without = _host_check_ns()
    print(f"single process: loop with the check {with_check:.1f} ns/iter, without {without:.1f} ns/iter: "
          f"+{with_check - without:.1f} ns per iteration")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_worker, args=(port, queue), nprocs=2)
    reduce_us, store_us = queue.get()
    interval = Preemption(distributed=True).check_interval
    print(f"2 gloo processes: one flag all-reduce {reduce_us:.0f} µs -> {reduce_us / interval:.1f} µs per "
          f"iteration at check_interval={interval}; a store lookup every iteration instead: {store_us:.0f} µs "
          f"per iteration ({store_us / (reduce_us / interval):.1f}x)")


if __name__ == "__main__":
    main()
