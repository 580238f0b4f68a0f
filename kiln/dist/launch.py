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
import socket
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as torch_dist

from kiln.errors import ConfigError

__all__ = ["init_dist", "LAUNCHERS", "DEFAULT_TIMEOUT_S", "slurm_environment", "mpi_environment",
           "first_host", "register_rank", "report_failure", "describe_failed_ranks"]

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
    register_rank()


# -- naming the rank that failed ---------------------------------------------------------------
# gloo/nccl report a dead peer as "Connection closed by peer [10.0.0.2]:41023" or a timeout,
# never as a rank. Each rank records its host and pid in the group's store at start, and its
# exception when it fails; a surviving rank whose collective failed reads them back.
_STORE_TIMEOUT = datetime.timedelta(seconds=2)


def _store() -> Any:
    # the default group's store (private accessor, stable since torch 1.x); None if unavailable
    getter = getattr(torch_dist.distributed_c10d, "_get_default_store", None)
    return getter() if getter is not None else None


def register_rank() -> None:
    """Record this rank's host and pid in the store (called by :func:`init_dist`)."""
    try:
        store = _store()
        store.set(f"kiln/rank/{torch_dist.get_rank()}", f"{socket.gethostname()} {os.getpid()}")
    except Exception:  # naming failed ranks is a diagnostic: never fail a run over it
        pass


def report_failure(exc: BaseException) -> None:
    """Record that this rank failed with ``exc`` (peers name it in their own error)."""
    try:
        store = _store()
        store.set_timeout(_STORE_TIMEOUT)
        store.set(f"kiln/failed/{torch_dist.get_rank()}", f"{type(exc).__name__}: {exc}"[:300])
    except Exception:
        pass


def describe_failed_ranks(wait_s: float = 2.0) -> str:
    """Which other ranks failed, died or are stopped, as far as this rank can tell ('' if unknown).

    A peer's connection closes while the kernel is still tearing its process down (or just before
    it records its failure), so this looks again for up to ``wait_s`` seconds (error path only).
    """
    deadline = time.monotonic() + wait_s
    while True:
        found = _failed_ranks_now()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _failed_ranks_now() -> str:
    try:
        store, me = _store(), torch_dist.get_rank()
        store.set_timeout(_STORE_TIMEOUT)
        found = []
        for rank in range(torch_dist.get_world_size()):
            if rank == me:
                continue
            if store.check([f"kiln/failed/{rank}"]):
                found.append(f"rank {rank} failed: {store.get(f'kiln/failed/{rank}').decode()}")
                continue
            host, pid = store.get(f"kiln/rank/{rank}").decode().split()
            state = _process_state(int(pid)) if host == socket.gethostname() else None
            if state:
                found.append(f"rank {rank} (pid {pid}) {state}")
    except Exception as exc:  # the store lives on rank 0 (or torchrun's agent): it may be gone too
        return f"the group's store cannot be reached ({type(exc).__name__}): rank 0 or the launcher may have died"
    return "; ".join(found)


def _process_state(pid: int) -> str | None:
    """'was killed' / 'is stopped (SIGSTOP?)' for a pid on this host, None when it runs normally."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "is gone (killed?)"
    return {"Z": "was killed (zombie)", "X": "was killed", "T": "is stopped (SIGSTOP?)",
            "t": "is stopped (traced)"}.get(state)


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
