"""Two gloo processes: metrics see every sample once, in dataset order, on every rank."""

import os

import pytest
import torch
import torch.distributed as torch_dist
from _launch import spawn

from kiln.evaluator import BaseMetric, Evaluator, collect_results

SIZE = 7  # 2 ranks x 4 samples: rank 1's last sample is the sampler's padding (sample 0 again)


class Ids(BaseMetric):
    default_prefix = "ids"

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append({"id": sample, "t": torch.tensor([sample])})

    def compute_metrics(self, results):
        return {"ids": [r["id"] for r in results],
                "sum": float(sum(r["t"] for r in results)), "rank": torch_dist.get_rank()}



def worker(rank, world, port, collect_dir, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch_dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        indices = list(range(SIZE)) + [0]            # DistributedSampler pads to 8
        mine = indices[rank::world]                  # rank 0: 0 2 4 6; rank 1: 1 3 5 0
        evaluator = Evaluator([Ids(), Ids(prefix="files", collect_dir=collect_dir)])
        for start in range(0, len(mine), 2):         # two batches of two
            evaluator.process(mine[start:start + 2])
        metrics = evaluator.evaluate(SIZE)
        gathered = collect_results([rank], 2)
        torch.save({"metrics": metrics, "gathered": gathered}, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_process_collection(tmp_path):
    collect_dir = tmp_path / "shared"
    spawn(worker, lambda port: (2, port, str(collect_dir), str(tmp_path)))
    outs = [torch.load(tmp_path / f"{r}.pt", weights_only=False) for r in range(2)]
    expected = {"ids/ids": list(range(SIZE)), "ids/sum": float(sum(range(SIZE))), "ids/rank": 0,
                "files/ids": list(range(SIZE)), "files/sum": float(sum(range(SIZE))), "files/rank": 0}
    assert outs[0]["metrics"] == expected
    assert outs[1]["metrics"] == expected  # computed on rank 0, broadcast to rank 1
    assert outs[0]["gathered"] == [0, 1] and outs[1]["gathered"] is None
    assert list(collect_dir.iterdir()) == []  # part files cleaned up
