"""parse_losses under 2 gloo ranks talks to no other rank (per iteration); the log interval averages
the logged values across ranks (``mean_over_ranks``, one collective per log line)."""


import torch
import torch.distributed as torch_dist
from _launch import spawn

from kiln.logging.message_hub import mean_over_ranks
from kiln.model import BaseModel

WORLD = 2


class Net(BaseModel):
    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs



def _worker(rank, url, out_dir):
    torch_dist.init_process_group("gloo", init_method=url, rank=rank, world_size=WORLD)
    try:
        calls = []
        real = torch_dist.all_reduce

        def counting_all_reduce(*args, **kwargs):
            calls.append(args[0].numel())
            return real(*args, **kwargs)

        torch_dist.all_reduce = counting_all_reduce
        w = torch.ones(2, requires_grad=True)
        r = float(rank)
        losses = {
            "loss_cls": w * (r + 1),  # mean: rank 0 → 1, rank 1 → 2
            "acc": torch.tensor([10.0 * (r + 1)]),
            "loss_aux": [torch.tensor(r), torch.tensor([2 * r, 4 * r])],
        }
        loss, log_vars = Net().parse_losses(losses)
        torch_dist.all_reduce = real
        line = {k: v.item() for k, v in log_vars.items()}
        if rank == 0:
            line["only_rank0"] = 3.0  # a key some ranks lack must not hang or skew the others
        averaged = mean_over_ranks(line)
        torch.save({"loss": loss.detach(), "log_vars": dict(log_vars), "order": list(log_vars),
                    "calls": calls, "grad_fn": loss.grad_fn is not None, "averaged": averaged},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_parse_losses_is_local_and_the_log_interval_averages_across_ranks(tmp_path):
    spawn(_worker, lambda port: (f"tcp://127.0.0.1:{port}", str(tmp_path)), nprocs=WORLD)
    res = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for r, out in enumerate(res):
        local_total = (r + 1) + (r + 3 * r)  # loss_cls + loss_aux (sum of means)
        assert out["loss"].item() == local_total  # backward loss is this rank's own
        assert out["grad_fn"]
        assert out["order"] == ["loss", "loss_cls", "acc", "loss_aux"]
        assert out["calls"] == []  # no collective per iteration
        lv = out["log_vars"]
        assert lv["loss_cls"].item() == r + 1 and lv["loss"].item() == local_total
        assert all(not v.requires_grad for v in lv.values())
        avg = out["averaged"]
        assert avg["loss_cls"] == 1.5 and avg["acc"] == 15.0
        assert avg["loss_aux"] == 2.0  # ranks: 0 and 4
        assert avg["loss"] == (1 + 6) / 2
    assert res[0]["averaged"]["only_rank0"] == 3.0 and "only_rank0" not in res[1]["averaged"]
