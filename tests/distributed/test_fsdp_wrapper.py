"""MMFullyShardedDataParallel (CPU, gloo): config-form arguments, 2-process steps == 1-process big batch."""


import torch
import torch.distributed as torch_dist
from _launch import spawn
from torch import nn

from kiln.model import BaseModel
from kiln.optim import OptimWrapper

WORLD = 2


class MLP(BaseModel):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 2)

    def forward(self, inputs, targets=None, mode="tensor"):
        out = self.b(torch.tanh(self.a(inputs)))
        if mode == "loss":
            return {"loss": nn.functional.mse_loss(out, targets)}
        return [out] if mode == "predict" else out


def _data():
    g = torch.Generator().manual_seed(2)
    return torch.randn(2, 8, 4, generator=g), torch.randn(2, 8, 2, generator=g)


def _model():
    torch.manual_seed(0)
    return MLP()



def _worker(rank, url, out_dir):
    torch_dist.init_process_group("gloo", init_method=url, rank=rank, world_size=WORLD)
    try:
        from kiln.model import MMFullyShardedDataParallel, is_model_wrapper
        from kiln.registry import MODEL_WRAPPERS

        fsdp = MODEL_WRAPPERS.build(dict(
            type="MMFullyShardedDataParallel", module=_model(), device_id=torch.device("cpu"),
            sharding_strategy="FULL_SHARD", backward_prefetch="BACKWARD_PRE",
            mixed_precision=dict(param_dtype="float32", reduce_dtype="torch.float32"),
            auto_wrap_policy=dict(type="size_based_auto_wrap_policy", min_num_params=1)))
        assert isinstance(fsdp, MMFullyShardedDataParallel) and is_model_wrapper(fsdp)
        nested = sum(isinstance(m, MMFullyShardedDataParallel.__mro__[1]) for m in fsdp.modules())
        opt = OptimWrapper(torch.optim.SGD(fsdp.parameters(), lr=0.1))
        xs, ys = _data()
        for x, y in zip(xs, ys):
            fsdp.train_step((x.chunk(WORLD)[rank], y.chunk(WORLD)[rank]), opt)
        preds = fsdp.val_step((xs[0],))[0].detach()
        torch.save({"preds": preds, "nested": nested}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_fsdp_two_processes_equal_big_batch(tmp_path):
    spawn(_worker, lambda port: (f"tcp://127.0.0.1:{port}", str(tmp_path)), nprocs=WORLD)
    ref = _model()
    opt = OptimWrapper(torch.optim.SGD(ref.parameters(), lr=0.1))
    xs, ys = _data()
    for x, y in zip(xs, ys):
        ref.train_step((x, y), opt)
    expected = ref.val_step((xs[0],))[0].detach()
    for r in range(WORLD):
        res = torch.load(tmp_path / f"rank{r}.pt")
        assert res["nested"] > 1  # the auto-wrap policy dict was resolved and applied
        torch.testing.assert_close(res["preds"], expected, atol=1e-6, rtol=0)
