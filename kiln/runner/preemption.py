"""Preemption: turn SIGTERM/SIGINT (and SIGUSR1 on request) into a checkpoint and an exit code.

Clusters preempt: SLURM, Kubernetes and spot instances send SIGTERM, wait a grace period, then
SIGKILL. During ``train()`` the Runner installs :class:`Preemption` (main thread only; the
previous handlers are restored afterwards). The handler only records the signal. The train loop
compares one integer per iteration (``iteration >= preemption.next_check``, no device sync);
when it fires, every rank agrees on the decision, the run saves a complete checkpoint at that
iteration boundary (``CheckpointHook``'s format, ``iter_<N>.pth``, plus the exact-resume state),
points ``last_checkpoint`` at it, logs one line, closes its writers and DataLoader workers, and
exits with status ``128 + signal`` (143 for SIGTERM): the job did not finish, and exit 0 would
tell the scheduler that it did. ``resume=True`` continues bitwise from there.

Distributed runs agree by an all-reduce (MAX) of the recorded signal every ``check_interval``
iterations (default 10): one tiny collective amortised over 10 iterations, whether or not a
signal came (ranks may receive the signal one iteration apart, so each rank's own flag is not
enough: they must stop at the same iteration). A background store key was considered: it makes
every rank *know* about the signal without a collective, but not agree on *which* iteration to
stop at, which needs a collective or a lock-step assumption anyway.

A second SIGINT (Ctrl-C twice) raises ``KeyboardInterrupt`` at once, without a checkpoint.

Example:
    >>> env_cfg = dict(preemption=dict(signals=['SIGUSR1'], requeue=True))  # srun --signal=USR1@120
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from kiln.dist import barrier, get_device, is_distributed, is_main_process
from kiln.errors import ConfigError
from kiln.hooks.checkpoint_hook import CheckpointHook
from kiln.logging import print_log

__all__ = ["Preemption", "NEVER", "PREEMPTION_KEYS"]

PREEMPTION_KEYS = ("signals", "requeue", "check_interval", "enable")
_DEFAULT_SIGNALS = ("SIGTERM", "SIGINT")


class _Never:
    """What a loop checks when no preemption handling is installed: the check never fires."""

    next_check = sys.maxsize


NEVER = _Never()


def _signal_number(name: Any, path: str) -> int:
    if isinstance(name, int) and not isinstance(name, bool):
        return int(signal.Signals(name))
    if isinstance(name, str):
        key = name.upper() if name.upper().startswith("SIG") else f"SIG{name.upper()}"
        if hasattr(signal, key):
            return int(getattr(signal, key))
    raise ConfigError(path, f"expected a signal name such as 'SIGUSR1', but got {name!r}")


class Preemption:
    """The signal flag, the agreement across ranks, and the save-and-exit at a boundary.

    Args:
        cfg: ``env_cfg.preemption``: ``signals`` (extra signal names, e.g. ``['SIGUSR1']``),
            ``requeue`` (``scontrol requeue $SLURM_JOB_ID`` on rank 0 before exiting),
            ``check_interval`` (iterations between the ranks' agreements, distributed only),
            ``enable`` (False: leave the signals alone, as MMEngine does).
        distributed: Whether ranks must agree (a process group is initialised).
    """

    def __init__(self, cfg: Mapping[str, Any] | None = None, distributed: bool | None = None) -> None:
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(PREEMPTION_KEYS)
        if unknown:
            raise ConfigError("env_cfg.preemption", f"unknown key(s) {sorted(unknown)}; expected "
                                                   f"{', '.join(PREEMPTION_KEYS)}")
        extra = cfg.get("signals") or []
        if isinstance(extra, str):
            extra = [extra]
        names = list(_DEFAULT_SIGNALS) + list(extra)
        self.signals = sorted({_signal_number(n, "env_cfg.preemption.signals") for n in names})
        self.requeue = bool(cfg.get("requeue", False))
        self.enabled = bool(cfg.get("enable", True))
        interval = cfg.get("check_interval", 10)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError("env_cfg.preemption.check_interval",
                              f"expected a positive integer, but got {interval!r}")
        self.check_interval = interval
        self.distributed = is_distributed() if distributed is None else distributed
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._loaders: list[Any] = []
        self.next_check = self._first_check(0)

    # -- install / restore -----------------------------------------------------------------
    def install(self, start_iter: int = 0, loaders: Sequence[Any] = ()) -> bool:
        """Install the handlers (main thread only); returns whether they were installed.

        ``loaders``' worker processes will ignore the signals: torchrun, SLURM and Kubernetes
        signal every process of the job, and a DataLoader worker killed by SIGTERM makes the
        main process fail before it reaches the boundary where it saves. The main process
        shuts its workers down itself (and they exit on their own if it dies).
        """
        self.next_check = self._first_check(start_iter)
        if not self.enabled:
            return False
        if threading.current_thread() is not threading.main_thread():
            print_log("train() runs outside the main thread: signal handlers cannot be installed, "
                      "so a SIGTERM will not save a checkpoint.", logger="current", level=30)
            self.next_check = NEVER.next_check
            return False
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        for loader in loaders:
            if getattr(loader, "num_workers", 0) > 0 and hasattr(loader, "worker_init_fn"):
                loader.worker_init_fn = _WorkerIgnoresSignals(loader.worker_init_fn, self.signals)
                self._loaders.append(loader)
        return True

    def restore(self) -> None:
        """Put back the handlers (and the loaders' ``worker_init_fn``) from before ``install``."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        for loader in self._loaders:
            if isinstance(loader.worker_init_fn, _WorkerIgnoresSignals):
                loader.worker_init_fn = loader.worker_init_fn.fn
        self._loaders.clear()

    def _first_check(self, start_iter: int) -> int:
        if self.distributed:  # after every check_interval-th iteration, the same on every rank
            return (start_iter // self.check_interval + 1) * self.check_interval - 1
        return NEVER.next_check  # single process: only the handler makes the check fire

    def _handle(self, signum: int, frame: Any) -> None:
        """Record the signal; nothing else may happen inside a signal handler."""
        if self.signum is not None:
            if signum == signal.SIGINT:  # Ctrl-C twice: the user wants out now
                self.restore()
                raise KeyboardInterrupt("second Ctrl-C: stopped at once, without a checkpoint")
            return
        self.signum = signum
        if not self.distributed:
            self.next_check = 0  # the loop's next boundary acts on it

    # -- at an iteration boundary ----------------------------------------------------------
    def at_boundary(self, runner: Any) -> None:
        """Called by the train loop when ``iteration >= next_check``; may save and exit."""
        signum = self._agreed_signal()
        if signum:
            self.save_and_exit(runner, signum)

    def _agreed_signal(self) -> int:
        if not self.distributed:
            return self.signum or 0
        self.next_check += self.check_interval
        # One deliberate collective (and device sync) every check_interval iterations: every rank
        # learns whether any rank was signalled, so all stop at this same iteration.
        flag = torch.tensor([self.signum or 0], dtype=torch.int32, device=get_device())
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag.item())

    def save_and_exit(self, runner: Any, signum: int) -> None:
        """Save a resumable checkpoint here, point ``last_checkpoint`` at it, clean up, exit."""
        name = signal.Signals(signum).name
        done = runner.train_loop.state.state_dict()["iter"]  # iterations finished, this one included
        out_dir, filename = _checkpoint_location(runner, done)
        start = time.perf_counter()
        # CheckpointHook deletes this one-off file once a periodic save after the resume succeeds
        runner.message_hub.update_info("preempt_ckpt", os.path.join(out_dir, filename))
        path = runner.save_checkpoint(out_dir, filename, by_epoch=False,
                                      meta=dict(preempted_by=name))
        path = path or os.path.join(out_dir, filename)
        runner.message_hub.update_info("last_ckpt", path)
        if is_main_process():
            CheckpointHook._write_last_checkpoint(runner.work_dir, path)
        barrier()  # no rank exits before rank 0's save is on disk
        seconds = time.perf_counter() - start
        print_log(f"Preempted by {name} at iteration {done}: saved {path}; resume with resume=True "
                  f"(the save took {seconds:.2f} s)", logger="current")
        from kiln.runner.errors import close_run

        close_run(runner)
        if self.requeue:
            _requeue()
        raise SystemExit(128 + signum)


class _WorkerIgnoresSignals:
    """A DataLoader ``worker_init_fn`` that first makes the worker ignore the preemption signals."""

    def __init__(self, fn: Any, signals: Sequence[int]) -> None:
        self.fn = fn
        self.signals = list(signals)

    def __call__(self, worker_id: int) -> None:
        for signum in self.signals:
            signal.signal(signum, signal.SIG_IGN)
        if self.fn is not None:
            self.fn(worker_id)


def _checkpoint_location(runner: Any, done: int) -> tuple[str, str]:
    """CheckpointHook's directory, and its iteration file name (``iter_{}.pth``)."""
    for hook in getattr(runner, "hooks", []):
        if isinstance(hook, CheckpointHook):
            out_dir = hook.out_dir or runner.work_dir
            tmpl = hook.filename_tmpl if not hook.by_epoch else "iter_{}.pth"
            return out_dir, tmpl.format(done)
    return runner.work_dir, f"iter_{done}.pth"


def _requeue() -> None:
    """``scontrol requeue $SLURM_JOB_ID`` (rank 0 only), so SLURM restarts the job later."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or not is_main_process():
        return
    if shutil.which("scontrol") is None:
        print_log("env_cfg.preemption.requeue: scontrol is not on PATH; the job is not requeued.",
                  logger="current", level=30)
        return
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        print_log(f"Requeued SLURM job {job}.", logger="current")
    else:
        print_log(f"scontrol requeue {job} failed: {result.stderr.strip()}", logger="current", level=40)
