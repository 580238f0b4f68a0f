"""A rank that raises, is SIGKILLed or is stopped (SIGSTOP) never leaves the others blocked: they
exit with an error naming it within the configured process-group timeout (here 5 s)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from _launch import free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and /proc")

_JOB = textwrap.dedent('''
    import json, os, signal, sys
    import torch
    from torch import nn
    from kiln.hooks import Hook
    from kiln.model import BaseModel
    from kiln.runner import Runner

    mode = sys.argv[1]

    class Net(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)

        def forward(self, x, y, mode="tensor"):
            return {"loss": ((self.fc(x).squeeze(1) - y) ** 2).mean()}

    class Fail(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.rank == 1 and runner.iter == 2:
                if mode == "raise":
                    raise ValueError("rank 1 broke")
                os.kill(os.getpid(), getattr(signal, mode))

    data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randn(32))
    Runner(model=Net(), work_dir=sys.argv[2],
           train_dataloader=dict(dataset=data, batch_size=2, collate_fn=dict(type="default_collate")),
           optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
           train_cfg=dict(by_epoch=False, max_iters=8),
           default_hooks=dict(logger=None, checkpoint=None), custom_hooks=[Fail()],
           launcher="pytorch", env_cfg=dict(dist_cfg=dict(backend="gloo", timeout=5))).train()
''')


def _start(tmp_path, mode):
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs.append(subprocess.Popen([sys.executable, "-c", _JOB, mode, str(tmp_path / "w")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


@pytest.mark.parametrize("mode,expected", [
    ("raise", "rank 1 failed: ValueError: rank 1 broke"),
    ("SIGKILL", "rank 1 (pid {pid}) "),
    ("SIGSTOP", "rank 1 (pid {pid}) is stopped (SIGSTOP?)"),
])
def test_the_surviving_rank_fails_naming_the_failed_one(tmp_path, mode, expected):
    rank0, rank1 = _start(tmp_path, mode)
    try:
        _, err = rank0.communicate(timeout=90)  # a hang would run into this (gloo's default: 30 min)
    finally:
        if mode == "SIGSTOP":
            os.kill(rank1.pid, signal.SIGKILL)
        rank1.wait(timeout=60)
        rank1.communicate()
    assert rank0.returncode not in (0, None), err[-3000:]
    assert expected.format(pid=rank1.pid) in err, err[-3000:]
    if mode == "SIGSTOP":
        assert "timed out" in err.lower() or "timeout" in err.lower(), err[-3000:]
    log_files = list((tmp_path / "w").glob("*/*.log"))
    assert log_files and "train() failed" in log_files[0].read_text()
