"""kiln.dist.launch: SLURM/MPI variables become torchrun's, the timeout is seconds, one real 1-process group."""

import datetime
import os

import pytest
import torch.distributed as torch_dist

from kiln.dist import launch
from kiln.errors import ConfigError

SLURM = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
         "SLURM_NODELIST": "gpu-a[07-08,12]", "SLURM_NTASKS_PER_NODE": "4(x2)"}


def test_slurm_variables_give_rank_world_and_first_host():
    env = launch.slurm_environment(SLURM, resolve=False)
    assert env == {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu-a07",
                   "MASTER_PORT": "29500", "LOCAL_WORLD_SIZE": "4"}


def test_slurm_keeps_a_chosen_port_and_address():
    env = launch.slurm_environment(dict(SLURM, MASTER_PORT="12345", MASTER_ADDR="10.0.0.1"), resolve=False)
    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("10.0.0.1", "12345")


def test_slurm_uses_scontrol_when_present(monkeypatch):
    calls = []

    class Result:
        stdout = "nodeX\nnodeY\n"

    monkeypatch.setattr(launch.shutil, "which", lambda name: "/usr/bin/scontrol")
    monkeypatch.setattr(launch.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Result())
    assert launch.slurm_environment(SLURM)["MASTER_ADDR"] == "nodeX"
    assert calls == [["scontrol", "show", "hostnames", "gpu-a[07-08,12]"]]


@pytest.mark.parametrize("nodelist,first", [("node1", "node1"), ("n[3-4]", "n3"), ("a,b", "a"),
                                            ("gpu[010,012-013],cpu1", "gpu010")])
def test_first_host_of_a_nodelist(nodelist, first):
    assert launch.first_host(nodelist) == first


def test_missing_slurm_variables_are_named():
    with pytest.raises(ConfigError, match="launcher='slurm' needs the environment variables SLURM_NTASKS"):
        launch.slurm_environment({"SLURM_PROCID": "0", "SLURM_NODELIST": "n1"})


def test_mpi_variables():
    env = launch.mpi_environment({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
                                  "OMPI_COMM_WORLD_LOCAL_RANK": "0", "MASTER_ADDR": "h"})
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_ADDR"]) == ("2", "4", "h")


def test_timeout_is_seconds_and_validated():
    assert launch._timedelta(None) == datetime.timedelta(seconds=600)
    assert launch._timedelta(5) == datetime.timedelta(seconds=5)
    with pytest.raises(ConfigError, match="env_cfg.dist_cfg.timeout: expected a positive number"):
        launch._timedelta("10")


def test_slurm_launcher_starts_a_one_process_group(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "LOCAL_WORLD_SIZE")}
    env.update(SLURM_PROCID="0", SLURM_NTASKS="1", SLURM_LOCALID="0", SLURM_NODELIST="127.0.0.1",
               MASTER_PORT=str(port))
    monkeypatch.setattr(os, "environ", env)  # what init_dist adds disappears with the test
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    launch.init_dist("slurm", timeout=7)
    try:
        assert torch_dist.get_world_size() == 1 and torch_dist.get_rank() == 0
        assert torch_dist.get_backend() == "gloo"
    finally:
        torch_dist.destroy_process_group()


def test_unknown_launcher():
    with pytest.raises(ConfigError, match=r"launcher: expected one of \('none', 'pytorch', 'slurm', 'mpi'\)"):
        launch.init_dist("k8s")
