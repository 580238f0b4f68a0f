"""SIGTERM at a known iteration: the run saves a checkpoint at the iteration boundary, exits with
143, and ``resume=True`` completes a loss sequence bitwise equal to an uninterrupted run — in one
process, and under torchrun with 2 gloo processes where the signal goes to torchrun's agent."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_JOB = textwrap.dedent('''
    import json, os, signal, sys, time
    import torch
    from torch import nn
    from kiln.hooks import Hook
    from kiln.model import BaseModel
    from kiln.runner import Runner

    args = json.loads(sys.argv[1])
    rank = int(os.environ.get("RANK", 0))

    class Net(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc1, self.drop, self.fc2 = nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 1)

        def forward(self, x, y, mode="tensor"):
            out = self.fc2(self.drop(torch.relu(self.fc1(x)))).squeeze(1)
            return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out

    class Data(torch.utils.data.Dataset):
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x, self.y = torch.randn(40, 4, generator=g), torch.randn(40, generator=g)

        def __len__(self):
            return 40

        def __getitem__(self, i):  # random augmentation inside the DataLoader workers
            return self.x[i] + 0.1 * torch.randn(4), self.y[i]

    class RecordLoss(Hook):
        priority = "LOWEST"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            with open(f"{args['losses']}.{rank}", "a") as f:
                f.write(f"{runner.iter} {outputs['loss'].item().hex()}\\n")
            if runner.iter + 1 == args.get("signal_at"):
                target = os.getppid() if args.get("to_parent") else os.getpid()
                if rank == 0:
                    os.kill(target, signal.SIGTERM)
                for _ in range(300):  # torchrun forwards it to every rank (this one included)
                    if runner.train_loop.preemption.signum is not None:
                        break
                    time.sleep(0.1)

    runner = Runner(
        model=dict(type=Net), work_dir=args["work_dir"],
        train_dataloader=dict(dataset=Data(), batch_size=4, num_workers=args["workers"],
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(logger=None, checkpoint=dict(type="CheckpointHook", interval=1)),
        custom_hooks=[RecordLoss()], launcher=args.get("launcher", "none"),
        env_cfg=dict(dist_cfg=dict(backend="gloo", timeout=60), preemption=dict(check_interval=2)),
        randomness=dict(seed=3), resume=args["resume"])
    runner.train()
''')


def _losses(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f if line.strip()]


def _run(tmp_path, name, torchrun=False, **args):
    args.setdefault("resume", False)
    args.setdefault("workers", 2)
    args["losses"] = str(tmp_path / name)
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if torchrun:
        script = tmp_path / "job.py"
        script.write_text(_JOB)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               "--monitor-interval=0.1", str(script), json.dumps(dict(args, launcher="pytorch"))]
    else:
        cmd = [sys.executable, "-c", _JOB, json.dumps(args)]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    return result, time.monotonic() - start, [_losses(f"{args['losses']}.{r}") for r in range(2)]


def _check_preempt_and_resume(tmp_path, torchrun, signal_at, expected_stop):
    reference_run, _, reference = _run(tmp_path, "reference", torchrun, work_dir=str(tmp_path / "ref"))
    assert reference_run.returncode == 0, reference_run.stderr[-3000:]
    work_dir = tmp_path / "preempted"
    common = dict(work_dir=str(work_dir), to_parent=torchrun)
    stopped, seconds, first = _run(tmp_path, "first", torchrun, signal_at=signal_at, **common)
    if torchrun:  # the workers exit 143; torch's agent then re-raises its own SignalException (1)
        assert stopped.returncode != 0 and "Received 15 death signal" in stopped.stderr, stopped.stderr[-3000:]
    else:
        assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    path = work_dir / f"iter_{expected_stop}.pth"
    log = stopped.stdout + stopped.stderr
    assert f"Preempted by SIGTERM at iteration {expected_stop}: saved {path}; resume with resume=True" in log
    assert (work_dir / "last_checkpoint").read_text() == str(path)
    assert torch.load(path, weights_only=True)["meta"]["iter"] == expected_stop
    assert len(first[0]) == expected_stop

    resumed, _, second = _run(tmp_path, "second", torchrun, resume=True, **common)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ranks = 2 if torchrun else 1
    for rank in range(ranks):
        assert int(second[rank][0][0]) == expected_stop
        assert first[rank] + second[rank] == reference[rank], f"rank {rank}"


def test_sigterm_saves_exits_143_and_resume_is_bitwise(tmp_path):
    # signalled during iteration 13 (mid-epoch, random augmentation in 2 workers): saved at 13
    _check_preempt_and_resume(tmp_path, torchrun=False, signal_at=13, expected_stop=13)


def test_torchrun_forwards_sigterm_to_both_ranks_which_agree_and_resume(tmp_path):
    # 2 ranks x 5 batches per epoch; the ranks agree every 2 iterations: signalled in
    # iteration 7, both stop at the boundary after iteration 8
    _check_preempt_and_resume(tmp_path, torchrun=True, signal_at=7, expected_stop=8)


def test_second_sigint_exits_at_once(tmp_path):
    from kiln.runner.preemption import Preemption

    preemption = Preemption(distributed=False)
    assert preemption.install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert preemption.signum == signal.SIGINT and preemption.next_check == 0
        with pytest.raises(KeyboardInterrupt, match="second Ctrl-C"):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        preemption.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_handlers_are_restored_and_sigusr1_is_opt_in():
    from kiln.runner.preemption import Preemption

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    preemption = Preemption(dict(signals=["SIGUSR1"], requeue=True), distributed=False)
    assert signal.SIGUSR1 in preemption.signals
    assert signal.SIGUSR1 not in Preemption(distributed=False).signals
    preemption.install()
    preemption.restore()
    assert {s: signal.getsignal(s) for s in before} == before


def test_bad_preemption_config_names_the_key():
    from kiln.errors import ConfigError
    from kiln.runner.preemption import Preemption

    with pytest.raises(ConfigError, match=r"env_cfg.preemption.signals: expected a signal name"):
        Preemption(dict(signals=["SIGNOPE"]))
    with pytest.raises(ConfigError, match=r"env_cfg.preemption: unknown key\(s\) \['requeu'\]"):
        Preemption(dict(requeu=True))
