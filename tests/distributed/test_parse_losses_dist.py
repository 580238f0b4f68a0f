"""parse_losses under 2 gloo ranks: logged values are rank averages (one collective), loss stays local."""


import torch
import torch.distributed as torch_dist
from _launch import spawn

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
        torch.save({"loss": loss.detach(), "log_vars": dict(log_vars), "order": list(log_vars),
                    "calls": calls, "grad_fn": loss.grad_fn is not None}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_log_vars_are_averaged_across_ranks_with_one_collective(tmp_path):
    spawn(_worker, lambda port: (f"tcp://127.0.0.1:{port}", str(tmp_path)), nprocs=WORLD)
    res = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for r, out in enumerate(res):
        local_total = (r + 1) + (r + 3 * r)  # loss_cls + loss_aux (sum of means)
        assert out["loss"].item() == local_total  # backward loss is this rank's own
        assert out["grad_fn"]
        assert out["order"] == ["loss", "loss_cls", "acc", "loss_aux"]
        assert out["calls"] == [4]  # ONE all_reduce carrying all four logged values
        lv = out["log_vars"]
        assert lv["loss_cls"].item() == 1.5
        assert lv["acc"].item() == 15.0
        assert lv["loss_aux"].item() == 2.0  # ranks: 0 and 4
        assert lv["loss"].item() == (1 + 6) / 2
        assert all(not v.requires_grad for v in lv.values())
