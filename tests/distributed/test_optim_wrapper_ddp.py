"""OptimWrapper under 2 gloo ranks: no_sync on accumulation steps, DDP == one large batch, skip_nonfinite agrees."""


import torch
import torch.distributed as torch_dist
from _launch import spawn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from kiln.optim import OptimWrapper

WORLD, ACC, MICRO = 2, 2, 3  # each rank: 2 windows of 2 micro-batches of 3 samples



def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(WORLD * ACC * MICRO * 2, 4, generator=g), torch.randn(WORLD * ACC * MICRO * 2, 2, generator=g)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _micro_slice(rank, call):
    """Samples of micro-batch ``call`` on ``rank``: window w holds WORLD*ACC*MICRO contiguous samples."""
    window, k = divmod(call, ACC)
    start = window * WORLD * ACC * MICRO + rank * ACC * MICRO + k * MICRO
    return slice(start, start + MICRO)


def _worker(rank, url, out_dir):
    torch_dist.init_process_group("gloo", init_method=url, rank=rank, world_size=WORLD)
    try:
        x, y = _data()
        model = DistributedDataParallel(_model())
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=ACC)
        grads_after_first = None
        for call in range(2 * ACC):
            sl = _micro_slice(rank, call)
            with wrapper.optim_context(model):
                loss = nn.functional.mse_loss(model(x[sl]), y[sl])
            wrapper.backward(wrapper.scale_loss(loss))
            if call == 0:
                grads_after_first = [p.grad.clone() for p in model.parameters()]
            if wrapper.should_update():
                wrapper.step()
                wrapper.zero_grad()
        # skip_nonfinite: rank 1 alone sees a NaN loss; both ranks must skip the same step
        skipper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), skip_nonfinite=True)
        before = [p.detach().clone() for p in model.parameters()]
        with skipper.optim_context(model):
            loss = nn.functional.mse_loss(model(x[:MICRO]), y[:MICRO])
        skipper.update_params(loss * (float("nan") if rank == 1 else 1.0))
        skipped = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        torch.save({"params": [p.detach() for p in before], "first_grads": grads_after_first,
                    "skipped": skipped}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_ddp_accumulation_matches_large_batches_and_skips_together(tmp_path):
    spawn(_worker, lambda port: (f"tcp://127.0.0.1:{port}", str(tmp_path)), nprocs=WORLD)
    res = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    # the first backward ran under no_sync: each rank still holds its own, different gradient
    assert not all(torch.equal(a, b) for a, b in zip(res[0]["first_grads"], res[1]["first_grads"]))
    # reference: one process, two SGD steps on windows of WORLD * ACC * MICRO samples
    x, y = _data()
    ref = _model()
    optimizer = torch.optim.SGD(ref.parameters(), lr=0.1)
    n = WORLD * ACC * MICRO
    for w in range(2):
        nn.functional.mse_loss(ref(x[w * n:(w + 1) * n]), y[w * n:(w + 1) * n]).backward()
        optimizer.step()
        optimizer.zero_grad()
    for out in res:
        for p, q in zip(out["params"], ref.parameters()):
            torch.testing.assert_close(p, q.detach(), atol=1e-6, rtol=0)
        assert out["skipped"]
