"""MMFullyShardedDataParallel (CPU, gloo), one spawn: config-form arguments, 2-process steps ==
1-process big batch; and the documented Runner config (``model`` as a config dict,
``model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')``, no ``device_id``) trains on CPU with
the 1-process run's losses and TOTAL gradient norms under clipping (FSDP1's own clip_grad_norm_)."""

import os

import torch
import torch.distributed as torch_dist
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.optim import OptimWrapper
from kiln.registry import MODELS

WORLD = 2


@MODELS.register_module(force=True)
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



class Record(Hook):
    def __init__(self):
        self.losses, self.norms = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs["loss"]))
        self.norms.append(float(runner.optim_wrapper.grad_norm))


def _runner_run(work_dir, batch_size, launcher):
    from kiln.runner import Runner

    g = torch.Generator().manual_seed(1)
    data = list(zip(torch.randn(32, 4, generator=g), torch.randn(32, 2, generator=g)))
    record = Record()
    Runner(model=dict(type="MLP"), work_dir=work_dir, launcher=launcher,
           env_cfg=dict(dist_cfg=dict(backend="gloo")), randomness=dict(seed=3),
           train_dataloader=dict(dataset=data, batch_size=batch_size,
                                 sampler=dict(type="DefaultSampler", shuffle=True),
                                 collate_fn=dict(type="default_collate")),
           optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.2), clip_grad=dict(max_norm=0.1)),
           train_cfg=dict(by_epoch=False, max_iters=6), custom_hooks=[record],
           default_hooks=dict(checkpoint=None, logger=None),
           cfg=dict(model_wrapper_cfg=dict(type="MMFullyShardedDataParallel"))).train()
    return record


def _worker(rank, url, out_dir):
    port = url.rsplit(":", 1)[1]
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    torch.set_num_threads(1)
    try:
        record = _runner_run(os.path.join(out_dir, "work"), 4, "pytorch")  # inits the process group
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
        torch.save({"preds": preds, "nested": nested, "losses": record.losses, "norms": record.norms},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        if torch_dist.is_initialized():
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
    one = _runner_run(str(tmp_path / "one"), 8, "none")  # the same global batch in one process
    assert max(one.norms) > 0.1  # the clip is active
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    mean_losses = [sum(losses) / WORLD for losses in zip(*(res["losses"] for res in ranks))]
    torch.testing.assert_close(mean_losses, one.losses, atol=1e-5, rtol=0)  # each rank logs its own half
    for res in ranks:
        torch.testing.assert_close(res["norms"], one.norms, atol=1e-5, rtol=0)  # total, not per shard
