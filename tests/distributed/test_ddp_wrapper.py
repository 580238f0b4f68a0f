"""MMDistributedDataParallel on 2 gloo processes equals 1 process on the big batch.

Also: accumulation steps skip the gradient all-reduce (no_sync), val/test go through the module,
and detect_anomalous_params names the unused parameter.
"""


import pytest
import torch
import torch.distributed as torch_dist
from _launch import spawn
from torch import nn

from kiln.model import BaseModel, MMDistributedDataParallel, is_model_wrapper
from kiln.optim import OptimWrapper

WORLD = 2
STEPS = 3


class MLP(BaseModel):
    def __init__(self, with_unused=False):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        if with_unused:
            self.unused = nn.Linear(2, 2)

    def forward(self, inputs, targets=None, mode="tensor"):
        out = self.net(inputs)
        if mode == "loss":
            return {"loss": nn.functional.mse_loss(out, targets)}
        return [out] if mode == "predict" else out


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(STEPS, 8, 4, generator=g), torch.randn(STEPS, 8, 2, generator=g)


def _model(with_unused=False):
    torch.manual_seed(0)
    return MLP(with_unused)



def _spawn(fn, tmp_path, *args):
    spawn(fn, lambda port: (f"tcp://127.0.0.1:{port}", str(tmp_path), *args), nprocs=WORLD)


def _init(rank, url):
    torch_dist.init_process_group("gloo", init_method=url, rank=rank, world_size=WORLD)


def _train_worker(rank, url, out_dir, acc):
    _init(rank, url)
    try:
        ddp = MMDistributedDataParallel(_model())
        assert is_model_wrapper(ddp)
        opt = OptimWrapper(torch.optim.SGD(ddp.parameters(), lr=0.1), accumulative_counts=acc)
        xs, ys = _data()
        unsynced = []
        for x, y in zip(xs, ys):
            # this rank's half of the global batch, split into ``acc`` micro-batches
            for xb, yb in zip(x.chunk(WORLD)[rank].chunk(acc), y.chunk(WORLD)[rank].chunk(acc)):
                log_vars = ddp.train_step({"inputs": xb, "targets": yb}, opt)
                if opt.inner_count % acc:  # mid-window: gradients are still local to this rank
                    unsynced.append(ddp.module.net[0].weight.grad.clone())
        preds = ddp.val_step({"inputs": xs[0]})
        torch.save({"params": [p.detach() for p in ddp.module.parameters()], "unsynced": unsynced,
                    "log_loss": log_vars["loss"], "preds": preds[0]}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def _reference():
    model = _model()
    opt = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    xs, ys = _data()
    for x, y in zip(xs, ys):
        model.train_step((x, y), opt)
    return model


@pytest.mark.parametrize("acc", [1, 2])
def test_two_process_train_step_equals_big_batch(tmp_path, acc):
    _spawn(_train_worker, tmp_path, acc)
    ref = _reference()
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for res in results:
        for p, q in zip(res["params"], ref.parameters()):
            torch.testing.assert_close(p, q.detach(), atol=1e-6, rtol=0)
        torch.testing.assert_close(res["preds"], ref.val_step({"inputs": _data()[0][0]})[0].detach(),
                                   atol=1e-6, rtol=0)
    # log_vars are this rank's own (averaged across ranks only at the log interval)
    assert not torch.equal(results[0]["log_loss"], results[1]["log_loss"])
    if acc > 1:  # no_sync on accumulation steps: each rank kept its own gradient
        assert len(results[0]["unsynced"]) == STEPS
        assert not torch.allclose(results[0]["unsynced"][0], results[1]["unsynced"][0])


def _anomaly_worker(rank, url, out_dir):
    _init(rank, url)
    try:
        ddp = MMDistributedDataParallel(_model(with_unused=True), detect_anomalous_params=True,
                                        find_unused_parameters=True)
        opt = OptimWrapper(torch.optim.SGD(ddp.parameters(), lr=0.1))
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            ddp.train_step((torch.ones(2, 4), torch.zeros(2, 2)), opt)
        with open(f"{out_dir}/log{rank}.txt", "w") as f:
            f.write(buf.getvalue())
        del ddp, opt  # release the DDP reducer (and its gloo work) before the group goes away
        torch_dist.barrier()  # neither rank tears down while the other still talks to it
    finally:
        torch_dist.destroy_process_group()


def test_detect_anomalous_params_names_the_unused_layer(tmp_path):
    _spawn(_anomaly_worker, tmp_path)
    text = (tmp_path / "log0.txt").read_text()
    assert "module.unused.weight with shape torch.Size([2, 2]) is not in the computational graph" in text
    assert "module.net.0.weight" not in text


class GAN(BaseModel):
    """Two trainable parts and a frozen one; the model steps them itself."""

    def __init__(self):
        super().__init__()
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Linear(2, 1)
        self.frozen = nn.Linear(2, 2).requires_grad_(False)

    def forward(self, inputs, mode="tensor"):
        return self.discriminator(self.generator(inputs))

    def train_step(self, data, optim_wrapper):
        with self.generator.no_sync(), self.discriminator.no_sync():  # a custom step may use no_sync
            pass
        return {"called_with": optim_wrapper}


def _separate_worker(rank, url, out_dir):
    _init(rank, url)
    try:
        from kiln.model import MMSeparateDistributedDataParallel

        wrapper = MMSeparateDistributedDataParallel(GAN())
        kinds = {name: type(child).__name__ for name, child in wrapper.module.named_children()}
        with wrapper.no_sync():
            flags = [c.require_backward_grad_sync for c in wrapper.module.children()
                     if isinstance(c, MMDistributedDataParallel)]
        after = [c.require_backward_grad_sync for c in wrapper.module.children()
                 if isinstance(c, MMDistributedDataParallel)]
        wrapper.train(False)
        torch.save({"kinds": kinds, "flags": flags, "after": after, "is_wrapper": is_model_wrapper(wrapper),
                    "training": [m.training for m in wrapper.modules()],
                    "step": wrapper.train_step(None, "OPT")["called_with"]}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def test_separate_ddp_wraps_each_trainable_child(tmp_path):
    _spawn(_separate_worker, tmp_path)
    res = torch.load(tmp_path / "rank0.pt")
    assert res["kinds"] == {"data_preprocessor": "BaseDataPreprocessor", "generator": "MMDistributedDataParallel",
                            "discriminator": "MMDistributedDataParallel", "frozen": "Linear"}
    assert res["flags"] == [False, False] and res["after"] == [True, True]  # all children entered together
    assert res["is_wrapper"] and not any(res["training"])
    assert res["step"] == "OPT"
