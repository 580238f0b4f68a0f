"""Process environment for a run: distributed init, threads/cudnn flags, seeds, timestamp.

Kept out of the Runner so that the Runner's constructor reads as a list of steps, and so the
same setup can be reused by scripts that do not use a Runner.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from kiln.dist import broadcast_object, get_rank, get_world_size, is_distributed
from kiln.dist.launch import init_dist  # moved to kiln.dist; re-exported for old imports
from kiln.errors import ConfigError
from kiln.logging import print_log

__all__ = ["setup_env", "init_dist", "set_random_seed", "make_timestamp", "collect_env"]

def _apply_mp_cfg(mp_cfg: Mapping[str, Any]) -> None:
    start_method = mp_cfg.get("mp_start_method")
    if start_method is not None and platform.system() != "Windows":
        import torch.multiprocessing as mp

        current = mp.get_start_method(allow_none=True)
        if current not in (None, start_method):
            print_log(f"Multi-processing start method `{start_method}` is different from the "
                      f"previous setting `{current}`. It will be force set to `{start_method}`.",
                      logger="current", level=30)
        mp.set_start_method(start_method, force=True)
    for var, key in (("OMP_NUM_THREADS", "omp_num_threads"), ("MKL_NUM_THREADS", "mkl_num_threads")):
        if key in mp_cfg and var not in os.environ:
            os.environ[var] = str(mp_cfg[key])


def _raise_file_limit(limit: int) -> None:
    if platform.system() == "Windows":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(max(limit, soft), hard)
    if wanted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def make_timestamp() -> str:
    """``%Y%m%d_%H%M%S`` of rank 0, shared by all ranks (one log dir per run)."""
    return broadcast_object(time.strftime("%Y%m%d_%H%M%S", time.localtime()))


def setup_env(env_cfg: Mapping[str, Any] | None, launcher: str) -> str:
    """Apply ``env_cfg`` (cudnn_benchmark, mp_cfg, dist_cfg, resource_limit); return the timestamp.

    ``preemption`` is read by the Runner around ``train()`` (:mod:`kiln.runner.preemption`).
    """
    env_cfg = dict(env_cfg or {})
    unknown = set(env_cfg) - {"cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit", "preemption"}
    if unknown:
        raise ConfigError("env_cfg", f"unknown key(s) {sorted(unknown)}; expected cudnn_benchmark, "
                                     "mp_cfg, dist_cfg, resource_limit, preemption")
    if env_cfg.get("cudnn_benchmark"):
        torch.backends.cudnn.benchmark = True
    _apply_mp_cfg(env_cfg.get("mp_cfg") or {})
    dist_cfg = dict(env_cfg.get("dist_cfg") or {})
    backend = dist_cfg.pop("backend", None)
    init_dist(launcher, backend, **dist_cfg)  # dist_cfg.timeout: seconds (kiln.dist.launch)
    _raise_file_limit(int(env_cfg.get("resource_limit", 4096)))
    return make_timestamp()


def set_random_seed(seed: int | None = None, deterministic: bool = False,
                    diff_rank_seed: bool = False) -> int:
    """Seed python, numpy and torch (all devices); return the seed used.

    A None seed becomes a random one drawn on rank 0 and shared, so every rank (and the log)
    knows it. ``diff_rank_seed`` adds the rank so ranks draw different augmentations.
    """
    if seed is None:
        seed = broadcast_object(int(np.random.randint(2**31)))
    if diff_rank_seed:
        seed += get_rank()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    return int(seed)


def collect_env(seed: int, launcher: str, deterministic: bool) -> str:
    """The ``System environment`` / ``Runtime environment`` block logged at start."""
    cuda = torch.cuda.is_available()
    system = [
        f"    sys.platform: {sys.platform}",
        f"    Python: {sys.version.replace(chr(10), ' ')}",
        f"    CUDA available: {cuda}",
        f"    numpy_random_seed: {seed}",
    ]
    if cuda:
        system.append(f"    GPU 0: {torch.cuda.get_device_name(0)}")
    system += [f"    PyTorch: {torch.__version__}", f"    NumPy: {np.__version__}"]
    runtime = [
        f"    cudnn_benchmark: {torch.backends.cudnn.benchmark}",
        f"    seed: {seed}",
        f"    deterministic: {deterministic}",
        f"    Distributed launcher: {launcher}",
        f"    Distributed training: {is_distributed()}",
        f"    GPU number: {get_world_size() if cuda else 0}",
    ]
    dash = "-" * 60
    return ("\n" + dash + "\nSystem environment:\n" + "\n".join(system)
            + "\n\nRuntime environment:\n" + "\n".join(runtime) + "\n" + dash + "\n")
