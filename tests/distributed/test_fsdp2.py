"""FSDP2 (``FullyShardWrapper``) with 2 gloo processes, all in ONE spawn (they share 2 cores):

- 20 iterations under FSDP2 give DDP's losses and total gradient norms (same seed, same global
  batch), plain, with accumulation + clipping + activation checkpointing, and on an HSDP mesh
  with CPU offload;
  accumulation-only steps leave the sharded gradients untouched (no reduce-scatter);
- a Runner given a model CONFIG builds it on meta (checked inside ``__init__``), shards,
  materializes and initializes it: Constant values and Kaiming/Xavier statistics hold on each
  rank's shard (fans from the full shape), buffers are right, the init report names initializers;
- ``Pretrained`` on the meta path reads each rank's slices of a .safetensors or .pth file (the
  whole-file loader is never called) and gives the checkpoint's weights;
- bad config values raise ConfigError before the device mesh is made; an optimizer built before
  sharding is refused.
"""

import math
import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.model import BaseModel
from kiln.registry import MODELS

WORLD, ITERS, GLOBAL_BATCH = 2, 20, 8
CONFIGS = {
    "plain": (dict(), 1, None),
    "accumulate_clip_ac": (dict(wrap=["Block", "Linear"], activation_checkpointing=["Block"], reshard_after_forward=False),
                           2, dict(max_norm=0.5)),
    "hsdp_offload_clip": (dict(mesh=dict(shape=(2, 1), names=("replicate", "shard")),
                               offload_policy=dict(type="cpu", pin_memory=False)), 1, dict(max_norm=0.5)),
}


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 5)  # 5 rows: uneven shards (3 + 2)
        self.blocks = nn.ModuleList([Block(5), Block(5)])
        self.head = nn.Linear(5, 2)

    def forward(self, x, y, mode="tensor"):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return {"loss": F.mse_loss(self.head(x), y)}


class Constants(nn.Module):
    """A registered constant, re-created in reset_parameters (the meta-init contract)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.linspace(1, 2, 4))

    def reset_parameters(self):
        with torch.no_grad():
            self.scale.copy_(torch.linspace(1, 2, 4))


@MODELS.register_module(force=True)
class MetaNet(BaseModel):
    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=[
            dict(type="Kaiming", layer="Linear", mode="fan_out"),
            dict(type="Constant", val=0.5, bias=0.1, override=dict(name="const")),
            dict(type="Xavier", override=dict(name="xav")),
        ])
        self.init_device = torch.empty(0).device.type  # what the model's __init__ ran on
        self.kai = nn.Linear(256, 512)   # weight (512, 256): fan_out 512, a shard (256, 256)
        self.xav = nn.Linear(128, 384)   # weight (384, 128): fans 128 + 384, a shard (192, 128)
        self.const = nn.Linear(8, 4)
        self.bn = nn.BatchNorm1d(4)
        self.constants = Constants()
        self.lin = nn.Linear(4, 1)

    def forward(self, x, y, mode="tensor"):
        h = self.bn(self.const(x)) * self.constants.scale
        return {"loss": F.mse_loss(self.lin(h).squeeze(1), y)}


def _batches():
    g = torch.Generator().manual_seed(3)
    target = torch.randn(4, 2, generator=g)  # a learnable mapping: the losses must go down
    xs = [torch.randn(GLOBAL_BATCH, 4, generator=g) for _ in range(ITERS)]
    return [(x, x @ target) for x in xs]


def _run(kind, rank, wrapper_args, acc, clip):
    from kiln.model import MMDistributedDataParallel
    from kiln.model.wrappers.fsdp2 import FullyShardWrapper
    from kiln.optim import OptimWrapper

    torch.manual_seed(0)
    model = Net()
    wrapped = MMDistributedDataParallel(model) if kind == "ddp" else FullyShardWrapper(model, **wrapper_args)
    opt = OptimWrapper(torch.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.5),
                       accumulative_counts=acc, clip_grad=clip)
    opt.initialize_count_status(wrapped, 0, ITERS)
    losses, norms, untouched = [], [], []
    half = GLOBAL_BATCH // WORLD
    for i, (x, y) in enumerate(_batches()):
        log_vars = wrapped.train_step((x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]), opt)
        losses.append(float(log_vars["loss"]))
        if clip is not None and opt.should_update():
            norms.append(float(opt.grad_norm))
        if kind == "fsdp2" and acc > 1 and (i + 1) % acc:  # mid-window: nothing reduce-scattered
            untouched.append(all(p.grad is None for p in wrapped.parameters()))
    return dict(losses=losses, norms=norms, untouched=untouched)


def _check_errors(rank):
    """Bad values fail before the mesh exists; an optimizer from before sharding is refused."""
    from kiln.errors import ConfigError
    from kiln.model.wrappers import fsdp2
    from kiln.optim import OptimWrapper

    real, errors = fsdp2.init_device_mesh, []
    fsdp2.init_device_mesh = lambda *a, **k: errors.append("mesh made")  # must never be reached
    try:
        for bad in (dict(wrap=["Blokc"]), dict(mesh=dict(shape=(2, 4))), dict(mp_policy=dict(param_dtype="x"))):
            try:
                fsdp2.FullyShardWrapper(Net(), **bad)
            except ConfigError as exc:
                errors.append(str(exc).split(":")[0])
    finally:
        fsdp2.init_device_mesh = real
    model = Net()
    early = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    wrapped = fsdp2.FullyShardWrapper(model)
    try:
        wrapped.train_step((torch.randn(2, 4), torch.randn(2, 2)), early)
    except RuntimeError as exc:
        errors.append("stale optimizer" if "built before fully_shard" in str(exc) else str(exc))
    return errors


def _pretrained(out_dir):
    """Meta-built model whose init_cfg is Pretrained: the full tensors after loading, per format."""
    from kiln.checkpoint import loading
    from kiln.model.wrappers.fsdp2 import FullyShardWrapper

    real = loading.load_checkpoint_file
    loading.load_checkpoint_file = None  # the whole-file loader must not be used on shards
    out = {}
    try:
        for ext in ("safetensors", "pth"):
            with torch.device("meta"):
                model = Net()
            model.init_cfg = dict(type="Pretrained", checkpoint=os.path.join(out_dir, f"ref.{ext}"))
            wrapped = FullyShardWrapper(model)
            out[ext] = ({k: v.full_tensor() for k, v in wrapped.module.state_dict().items()},
                        wrapped.module.init_report().params["stem.weight"])
    finally:
        loading.load_checkpoint_file = real
    return out


def _meta_runner(rank, work_dir):
    from kiln.runner import Runner

    g = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(16, 8, generator=g), torch.randn(16, generator=g)))
    runner = Runner(
        model=dict(type="MetaNet", data_preprocessor=dict(type="BaseDataPreprocessor")),
        work_dir=work_dir, launcher="pytorch", env_cfg=dict(dist_cfg=dict(backend="gloo")),
        randomness=dict(seed=5),
        train_dataloader=dict(dataset=data, batch_size=4, sampler=dict(type="DefaultSampler", shuffle=False),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=2), default_hooks=dict(checkpoint=None, logger=None),
        cfg=dict(model_wrapper_cfg=dict(type="FSDP2")))
    model = runner.model.module
    loc = {n: p.to_local().detach().clone() for n, p in model.named_parameters()}
    out = dict(
        init_device=model.init_device, model_name=runner.model_name,
        shapes={n: (tuple(p.shape), tuple(p.to_local().shape)) for n, p in model.named_parameters()},
        kai_std=float(loc["kai.weight"].std()), xav_std=float(loc["xav.weight"].std()),
        kai_full=model.kai.weight.full_tensor().detach(),
        const=(loc["const.weight"], loc["const.bias"]),
        buffers=(model.bn.running_mean.clone(), model.bn.running_var.clone(),
                 int(model.bn.num_batches_tracked), model.constants.scale.clone()),
        report=dict(model.init_report().params),
    )
    runner.train()  # trains on the materialized shards
    out["trained"] = bool((model.const.weight.to_local() != 0.5).any())
    return out


def _worker(rank, port, out_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        results = {"meta": _meta_runner(rank, os.path.join(out_dir, "work"))}  # inits the process group
        for name, (args, acc, clip) in CONFIGS.items():
            results[name] = {kind: _run(kind, rank, args, acc, clip) for kind in ("ddp", "fsdp2")}
        results["errors"] = _check_errors(rank)
        results["pretrained"] = _pretrained(out_dir)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def test_fsdp2_two_processes(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(11)
    reference = {k: v.detach().clone() for k, v in Net().state_dict().items()}
    torch.save(dict(state_dict=reference), tmp_path / "ref.pth")
    save_file(reference, str(tmp_path / "ref.safetensors"))
    spawn(_worker, lambda port: (port, str(tmp_path)), nprocs=WORLD)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    for name in CONFIGS:
        for res in ranks:
            ddp, fsdp = res[name]["ddp"], res[name]["fsdp2"]
            assert len(fsdp["losses"]) == ITERS
            torch.testing.assert_close(fsdp["losses"], ddp["losses"], atol=1e-5, rtol=0, msg=name)
            torch.testing.assert_close(fsdp["norms"], ddp["norms"], atol=1e-5, rtol=0, msg=name)
            if CONFIGS[name][2] is not None:  # the clip was active: the norm is the total one
                assert len(fsdp["norms"]) == ITERS // CONFIGS[name][1] and max(fsdp["norms"]) > 0.5
    losses = ranks[0]["plain"]["ddp"]["losses"]
    assert sum(losses[-5:]) < sum(losses[:5]) / 2  # it learns (the comparison is not of two no-ops)
    assert ranks[0]["accumulate_clip_ac"]["fsdp2"]["untouched"] == [True] * (ITERS // 2)

    meta = [r["meta"] for r in ranks]
    assert meta[0]["init_device"] == "meta"
    assert meta[0]["model_name"] == "MetaNet"  # not fully_shard's generated FSDPMetaNet
    assert meta[0]["shapes"]["kai.weight"] == ((512, 256), (256, 256))
    for m in meta:
        assert math.isclose(m["kai_std"], math.sqrt(2 / 512), rel_tol=0.03)  # fan_out of the FULL weight
        assert math.isclose(m["xav_std"], math.sqrt(2 / (128 + 384)), rel_tol=0.03)
        weight, bias = m["const"]
        assert weight.eq(0.5).all() and torch.allclose(bias, torch.full_like(bias, 0.1))
        mean, var, tracked, scale = m["buffers"]
        assert mean.eq(0).all() and var.eq(1).all() and tracked == 0
        torch.testing.assert_close(scale, torch.linspace(1, 2, 4))
        assert m["report"]["kai.weight"].startswith("KaimingInit")
        assert m["report"]["const.weight"].startswith("ConstantInit: val=0.5")
        assert m["report"]["xav.weight"].startswith("XavierInit")
        assert m["trained"]
    full = meta[0]["kai_full"]  # the gathered weight: the two shards drew different values
    assert not torch.equal(full[:256], full[256:])
    assert math.isclose(float(full.std()), math.sqrt(2 / 512), rel_tol=0.03)
    assert ranks[0]["errors"] == ["model_wrapper_cfg.wrap", "model_wrapper_cfg.mesh.shape",
                                  "model_wrapper_cfg.mp_policy.param_dtype", "stale optimizer"]
    for res in ranks:
        for ext, (state, info) in res["pretrained"].items():
            assert info.startswith(f"PretrainedInit: load from {tmp_path}"), ext
            assert state.keys() == reference.keys()
            for key, value in reference.items():
                torch.testing.assert_close(state[key], value, atol=0, rtol=0, msg=f"{ext} {key}")


def _gpu_worker(rank, port, out_dir):
    """nccl, one GPU per rank, bf16 parameters with fp32 reduction, model built on meta."""
    from kiln.model import MMDistributedDataParallel
    from kiln.model.wrappers.fsdp2 import FullyShardWrapper
    from kiln.optim import OptimWrapper

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    torch_dist.init_process_group("nccl")
    try:
        out = {}
        for kind in ("ddp", "fsdp2"):
            torch.manual_seed(0)
            model = Net()
            if kind == "ddp":
                wrapped = MMDistributedDataParallel(model.cuda(), device_ids=[rank])
            else:
                wrapped = FullyShardWrapper(model, mp_policy=dict(param_dtype="bfloat16", reduce_dtype="float32"))
            opt = OptimWrapper(torch.optim.SGD(wrapped.parameters(), lr=0.1), clip_grad=dict(max_norm=0.5))
            half = GLOBAL_BATCH // WORLD
            out[kind] = [float(wrapped.train_step((x[rank * half:(rank + 1) * half].cuda(),
                                                   y[rank * half:(rank + 1) * half].cuda()), opt)["loss"])
                         for x, y in _batches()]
        with torch.device("meta"):
            meta = MetaNet()
        wrapped = FullyShardWrapper(meta)
        out["meta_device"] = str(wrapped.module.kai.weight.device)
        out["bn_var_is_one"] = bool(wrapped.module.bn.running_var.eq(1).all())
        torch.save(out, os.path.join(out_dir, f"gpu{rank}.pt"))
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < WORLD,
                    reason=f"needs {WORLD} CUDA devices (nccl, bf16 mixed precision)")
def test_fsdp2_nccl_bf16_matches_ddp_closely(tmp_path):
    spawn(_gpu_worker, lambda port: (port, str(tmp_path)), nprocs=WORLD)
    for r in range(WORLD):
        res = torch.load(tmp_path / f"gpu{r}.pt")
        # bf16 parameters in forward/backward: close to DDP's fp32 losses, not equal
        torch.testing.assert_close(res["fsdp2"], res["ddp"], atol=3e-2, rtol=3e-2)
        assert res["meta_device"] == f"cuda:{r}" and res["bn_var_is_one"]
