"""Start the default process group from what a launcher put in the environment.

``torchrun`` (``launcher='pytorch'``) sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/
``MASTER_PORT``; SLURM's ``srun`` (``'slurm'``) sets ``SLURM_PROCID``/``SLURM_NTASKS``/
``SLURM_LOCALID``/``SLURM_NODELIST``; Open MPI's ``mpirun`` (``'mpi'``) sets
``OMPI_COMM_WORLD_RANK``/``_SIZE``/``_LOCAL_RANK``. Each launcher is translated into torchrun's
variables, then one ``init_process_group`` call runs with an explicit timeout: gloo's default is
30 minutes, so a rank that died or hangs would otherwise block the others that long.

Example:
    >>> from kiln.dist.launch import slurm_environment
    >>> slurm_environment({'SLURM_PROCID': '3', 'SLURM_NTASKS': '8', 'SLURM_LOCALID': '1',
    ...                    'SLURM_NODELIST': 'gpu[07-08]'}, resolve=False)['MASTER_ADDR']
    'gpu07'
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as torch_dist

from kiln.errors import ConfigError

__all__ = ["init_dist", "LAUNCHERS", "DEFAULT_TIMEOUT_S", "slurm_environment", "mpi_environment",
           "first_host"]

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")
DEFAULT_TIMEOUT_S = 600.0  # long enough for a slow checkpoint save on rank 0, short enough to notice a hang
DEFAULT_PORT = "29500"


def init_dist(launcher: str, backend: str | None = None, timeout: float | datetime.timedelta | None = None,
              **kwargs: Any) -> None:
    """Initialise the default process group for ``launcher`` (a no-op for ``'none'``/already done).

    Args:
        launcher: ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` (srun) or ``'mpi'`` (mpirun).
        backend: ``'nccl'``, ``'gloo'``, ...; None picks nccl with CUDA, else gloo. nccl without
            CUDA falls back to gloo (CPU runs, CI).
        timeout: Collective timeout in SECONDS (or a timedelta), ``env_cfg.dist_cfg.timeout``;
            default :data:`DEFAULT_TIMEOUT_S`. A rank that dies or stops makes the others fail
            with an error after this long instead of waiting forever.
        **kwargs: Passed to ``torch.distributed.init_process_group``.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError("launcher", f"expected one of {LAUNCHERS}, but got {launcher!r}")
    if launcher == "none" or (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    if launcher == "slurm":
        os.environ.update(slurm_environment(os.environ))
    elif launcher == "mpi":
        os.environ.update(mpi_environment(os.environ))
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError("launcher", f"launcher={launcher!r} needs the environment variables "
                                      f"{', '.join(missing)} (set by torchrun)")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl" and not torch.cuda.is_available():
        backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    torch_dist.init_process_group(backend=backend, timeout=_timedelta(timeout), **kwargs)


def _timedelta(timeout: float | datetime.timedelta | None) -> datetime.timedelta:
    if timeout is None:
        return datetime.timedelta(seconds=DEFAULT_TIMEOUT_S)
    if isinstance(timeout, datetime.timedelta):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError("env_cfg.dist_cfg.timeout", f"expected a positive number of seconds, but got {timeout!r}")
    return datetime.timedelta(seconds=float(timeout))


def slurm_environment(env: Mapping[str, str], resolve: bool = True) -> dict[str, str]:
    """torchrun's variables for one ``srun`` task (``srun --ntasks-per-node=<gpus> python train.py``).

    ``MASTER_ADDR`` is the first host of ``SLURM_NODELIST`` (via ``scontrol show hostnames`` when
    ``resolve`` and scontrol exists, else parsed here); ``MASTER_PORT`` keeps an existing value,
    else 29500. Variables already set win (a wrapper script may choose them).
    """
    missing = [k for k in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST") if k not in env]
    if missing:
        raise ConfigError("launcher", f"launcher='slurm' needs the environment variables {', '.join(missing)} "
                                      "(set by srun inside an allocation)")
    nodelist = env["SLURM_NODELIST"]
    out = {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env["SLURM_NTASKS"],
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": env.get("MASTER_ADDR") or _scontrol_first_host(nodelist, resolve) or first_host(nodelist),
        "MASTER_PORT": env.get("MASTER_PORT", DEFAULT_PORT),
    }
    if "SLURM_NTASKS_PER_NODE" in env:
        out["LOCAL_WORLD_SIZE"] = env["SLURM_NTASKS_PER_NODE"].split("(")[0]
    return out


def mpi_environment(env: Mapping[str, str]) -> dict[str, str]:
    """torchrun's variables for one Open MPI process; ``MASTER_ADDR`` must be set (e.g. ``-x``)."""
    missing = [k for k in ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE") if k not in env]
    if missing:
        raise ConfigError("launcher", f"launcher='mpi' needs the environment variables {', '.join(missing)} "
                                      "(set by Open MPI's mpirun)")
    return {
        "RANK": env["OMPI_COMM_WORLD_RANK"],
        "WORLD_SIZE": env["OMPI_COMM_WORLD_SIZE"],
        "LOCAL_RANK": env.get("OMPI_COMM_WORLD_LOCAL_RANK", "0"),
        "MASTER_ADDR": env.get("MASTER_ADDR", "127.0.0.1"),
        "MASTER_PORT": env.get("MASTER_PORT", DEFAULT_PORT),
    }


def _scontrol_first_host(nodelist: str, resolve: bool) -> str | None:
    if not resolve or shutil.which("scontrol") is None:
        return None
    try:
        result = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                                text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    hosts = result.stdout.split()
    return hosts[0] if hosts else None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``'gpu[07-08,10],cpu1'`` → ``'gpu07'``.

    Raises:
        ConfigError: the list is empty or not in SLURM's syntax.
    """
    match = re.match(r"\s*([^,\[\s]+)(?:\[([^\]]+)\])?", nodelist)
    if not match:
        raise ConfigError("SLURM_NODELIST", f"cannot read a host name from {nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if ranges is None:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first
