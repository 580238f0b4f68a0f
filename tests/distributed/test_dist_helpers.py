"""Two gloo processes: the kiln.dist collectives give every rank the right values."""

import os

import pytest
import torch
import torch.distributed as torch_dist
from _launch import spawn

from kiln import dist


def worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world))
    torch_dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        out = {"info": dist.get_dist_info(), "local": (dist.get_local_rank(), dist.get_local_size()),
               "backend": dist.get_backend(), "main": dist.is_main_process()}
        mean = torch.tensor([float(rank), 10.0 * rank])
        dist.all_reduce(mean, op="mean")
        total = torch.tensor([rank + 1])
        dist.all_reduce(total)                                   # 'sum'
        imean = torch.tensor([rank])                             # ints floor: (0 + 1) // 2
        dist.all_reduce(imean, op="mean")
        out.update(mean=mean.tolist(), sum=total.tolist(), imean=imean.tolist())
        out["gather"] = [t.tolist() for t in dist.all_gather(torch.tensor([rank, -rank]))]
        out["gather0"] = [t.tolist() for t in dist.gather(torch.tensor([rank]))]
        box = [f"from {rank}", rank]
        dist.broadcast_object_list(box, src=1)
        out["box"] = box
        b = torch.tensor([rank * 5.0])
        dist.broadcast(b, src=1)
        out["broadcast"] = b.tolist()
        out["objects"] = dist.all_gather_object({"rank": rank})
        out["objects0"] = dist.gather_object(rank)
        d = {"a": torch.tensor([1.0 * rank]), "b": torch.tensor([2.0, rank])}
        dist.all_reduce_dict(d, op="sum")
        out["dict"] = {k: v.tolist() for k, v in d.items()}
        out["seed"] = dist.sync_random_seed()
        # sampler-style shards of 5 samples padded to 6: rank 0 [0, 2, 4], rank 1 [1, 3, 0]
        shard = [0, 2, 4] if rank == 0 else [1, 3, 0]
        out["collected"] = dist.collect_results([f"s{i}" for i in shard], 5)
        out["master"] = dist.master_only(lambda: rank)()
        dist.barrier()
        torch.save(out, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_process_helpers(tmp_path):
    spawn(worker, lambda port: (2, port, str(tmp_path)))
    r0, r1 = (torch.load(tmp_path / f"{r}.pt", weights_only=False) for r in range(2))
    assert r0["info"] == (0, 2) and r1["info"] == (1, 2)
    assert r0["local"] == (0, 2) and r1["local"] == (1, 2)
    assert r0["backend"] == "gloo" and r0["main"] and not r1["main"]
    for r in (r0, r1):
        assert r["mean"] == [0.5, 5.0] and r["sum"] == [3] and r["imean"] == [0]
        assert r["gather"] == [[0, 0], [1, -1]]
        assert r["box"] == ["from 1", 1] and r["broadcast"] == [5.0]
        assert r["objects"] == [{"rank": 0}, {"rank": 1}]
        assert r["dict"] == {"a": [1.0], "b": [4.0, 1.0]}
    assert r0["gather0"] == [[0], [1]] and r1["gather0"] == []
    assert r0["objects0"] == [0, 1] and r1["objects0"] is None
    assert r0["seed"] == r1["seed"]
    assert r0["collected"] == ["s0", "s1", "s2", "s3", "s4"] and r1["collected"] is None
    assert r0["master"] == 0 and r1["master"] is None
