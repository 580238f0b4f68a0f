"""DCP checkpoints across world sizes (2 gloo processes, CPU): saved at iteration 10 of 20 on 2 ranks,
resumed on 2 ranks and on 1 rank (same global batch), iterations 11-20 equal the uninterrupted run;
an async-saving run has the same losses and its last save is complete; consolidate -> load_from in
one process gives the 2-rank run's weights; a rank SIGKILLed mid-save leaves the previous checkpoint
loadable. The 2-rank runs shard the model with ``model_wrapper_cfg=dict(type='FSDP2')``."""

import os
import signal

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from _launch import spawn
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel

GLOBAL_BATCH, MAX_ITERS = 8, 20


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 3)

    def forward(self, x, y, mode="tensor"):
        out = self.fc2(torch.tanh(self.fc1(x)))
        return {"loss": F.cross_entropy(out, y)} if mode == "loss" else out


class GlobalLoss(Hook):
    """The loss over the global batch (mean of the equal-sized rank batches), per iteration."""

    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        import torch.distributed as dist

        loss = outputs["loss"].detach().clone()
        if dist.is_initialized():
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
        self.losses[runner.iter + 1] = loss.item()


def _wrapper_cfg(world_size):
    return dict(type="FSDP2") if world_size > 1 else None


def _runner(work_dir, world_size, log=None, load_from=None, resume=False, interval=10, max_iters=MAX_ITERS,
            **ckpt):
    from kiln.runner import Runner

    generator = torch.Generator().manual_seed(0)
    data = list(zip(torch.randn(72, 4, generator=generator), torch.randint(0, 3, (72,), generator=generator)))
    torch.manual_seed(0)
    return Runner(
        model=Net(), work_dir=str(work_dir), load_from=load_from, resume=resume, randomness=dict(seed=5),
        launcher="pytorch" if world_size > 1 else "none", env_cfg=dict(dist_cfg=dict(backend="gloo")),
        cfg=dict(model_wrapper_cfg=_wrapper_cfg(world_size)) if _wrapper_cfg(world_size) else None,
        custom_hooks=[log] if log else None,
        train_dataloader=dict(dataset=data, batch_size=GLOBAL_BATCH // world_size,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.2, momentum=0.9)),
        param_scheduler=dict(type="MultiStepLR", milestones=[15], by_epoch=False, gamma=0.5),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=interval, by_epoch=False,
                                                        save_format="dcp", **ckpt)))


def _env(rank, port):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)


def _finish():
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _worker(rank, port, out):
    _env(rank, port)
    from kiln.checkpoint.model_state import full_model_state_dict, is_sharded
    from kiln.model.wrappers.utils import unwrap_model

    result = {}
    try:
        full = GlobalLoss()
        runner = _runner(os.path.join(out, "full"), 2, full)
        runner.train()
        result["sharded"] = is_sharded(runner.model)
        final = {k: v.clone() for k, v in full_model_state_dict(unwrap_model(runner.model)).items()}
        resumed = GlobalLoss()
        _runner(os.path.join(out, "resumed2"), 2, resumed, load_from=os.path.join(out, "full", "iter_10"),
                resume=True).train()
        async_log = GlobalLoss()
        _runner(os.path.join(out, "async"), 2, async_log, async_save=True).train()
        result.update(full=full.losses, resumed=resumed.losses, async_losses=async_log.losses, final=final)
    finally:
        _finish()
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """One spawn for the 2-rank runs every test below reads (keeps the 2-core CI short)."""
    out = tmp_path_factory.mktemp("dcp2")
    spawn(_worker, lambda port: (port, str(out)))
    result = torch.load(out / "rank0.pt")
    assert result["sharded"]  # FSDP2: each rank wrote its shards
    return out, result


def _after_save(result):
    full = result["full"]
    assert sorted(full) == list(range(1, MAX_ITERS + 1))
    return {i: full[i] for i in range(11, MAX_ITERS + 1)}


def test_resume_on_two_ranks_and_async_save(two_rank_runs):
    out, result = two_rank_runs
    after = _after_save(result)
    assert sorted(result["resumed"]) == list(after)  # resumed at iteration 11
    for i in after:
        assert result["resumed"][i] == pytest.approx(after[i], abs=1e-5)
    assert result["async_losses"] == result["full"]  # async save changes nothing in training
    assert (out / "async" / "last_checkpoint").read_text() == str(out / "async" / "iter_20")
    assert (out / "async" / "iter_20" / ".metadata").is_file()  # the save in flight at the end completed
    files = os.listdir(out / "full" / "iter_10")
    assert {"rank_0.pth", "rank_1.pth", "extra_state.pth", ".metadata"} <= set(files)


def test_saved_on_two_ranks_resumed_on_one(two_rank_runs, tmp_path):
    out, result = two_rank_runs
    after = _after_save(result)
    one = GlobalLoss()  # same global batch: 8 on one rank instead of 2 x 4
    _runner(tmp_path / "resumed1", 1, one, load_from=str(out / "full" / "iter_10"), resume=True).train()
    assert sorted(one.losses) == list(after)
    for i in after:
        assert one.losses[i] == pytest.approx(after[i], abs=1e-5)


def test_consolidate_then_load_from_in_one_process(two_rank_runs, tmp_path):
    from kiln.checkpoint.consolidate import consolidate

    out, result = two_rank_runs
    path = consolidate(str(out / "full" / "iter_20"), str(tmp_path / "model.safetensors"))
    loaded = _runner(tmp_path / "load", 1, load_from=path, max_iters=0)
    loaded.load_or_resume()
    state = loaded.model.state_dict()
    assert result["final"].keys() == state.keys()
    for key, value in result["final"].items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)


class _KillDuringSecondSave(Hook):
    """Rank 1 dies by SIGKILL while the DCP save of iter_10 is writing its shards."""

    def before_train(self, runner):
        from torch.distributed.checkpoint import FileSystemWriter

        real, calls = FileSystemWriter.write_data, []

        def write_data(writer, plan, planner):
            calls.append(1)
            if runner.rank == 1 and len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(writer, plan, planner)

        FileSystemWriter.write_data = write_data


def _kill_worker(rank, port, out):
    _env(rank, port)
    try:
        runner = _runner(os.path.join(out, "run"), 2, interval=5, max_iters=10)
        runner.register_hook(_KillDuringSecondSave())
        runner.train()
    finally:
        _finish()


def test_sigkill_mid_save_leaves_previous_checkpoint_loadable(tmp_path):
    with pytest.raises(mp.ProcessExitedException):
        spawn(_kill_worker, lambda port: (port, str(tmp_path)))
    work = tmp_path / "run"
    assert (work / "last_checkpoint").read_text() == str(work / "iter_5")
    assert not (work / "iter_10").exists()
    log = GlobalLoss()
    _runner(work, 1, log, resume=True, interval=5, max_iters=10).train()  # on 1 rank, from iter_5
    assert sorted(log.losses) == list(range(6, 11))
    assert (work / "iter_10" / ".metadata").is_file() and not (work / ".iter_10.partial").exists()
