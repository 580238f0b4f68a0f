"""LoggerHook: prints the log lines, feeds the visualizer, drives the progress bar, closes the run.

Every ``interval`` iterations (and at the end of short epochs) it asks ``runner.log_processor``
for a line, prints it through ``runner.logger`` and sends the values to ``runner.visualizer``
(``vis_data/scalars.json``, TensorBoard, ... with ``step = iter + 1``). After each val/test epoch
it prints the metric summary. At ``after_run`` it closes the visualizer, which writes
``curves.png``. When stdout is a terminal a rich progress bar runs per epoch / validation.
"""

from __future__ import annotations

import json
import numbers
import os
import shutil
from collections.abc import Sequence
from typing import Any

from kiln.errors import ConfigError
from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging.logger import flush_log_file, log_line
from kiln.registry import HOOKS
from kiln.utils.progressbar import ProgressBar

__all__ = ["LoggerHook"]


_UNSET = object()


def trained_epochs(runner) -> int | None:
    """Epochs finished by the train loop, or None when no train loop is built (val/test only).

    Never builds a train loop (a ``kiln test`` run of a full config must not build the train
    data). A runner-like object without ``train_progress`` is trusted for its ``epoch``.
    """
    progress = getattr(runner, "train_progress", _UNSET)
    if progress is _UNSET:
        return getattr(runner, "epoch", None)
    return None if progress is None else progress.epoch


def _scalars_only(tag: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in tag.items():
        if isinstance(value, numbers.Number):
            out[key] = value
        elif hasattr(value, "numel") and value.numel() == 1:
            out[key] = value.item()  # an eval metric, once per evaluation
    return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _flush(visualizer: Any) -> None:
    """Write what is buffered: the log file's lines and the visualizer's records (each at most
    a second late during an epoch)."""
    flush_log_file()
    flush = getattr(visualizer, "flush", None)  # a user's visualizer may not buffer
    if flush is not None:
        flush()


@HOOKS.register_module()
class LoggerHook(Hook):
    """Log training/evaluation progress.

    Args:
        interval: Log every ``interval`` iterations.
        ignore_last: Skip the line of the last few iterations of an epoch that do not fill an
            interval (it is always printed when the epoch is shorter than ``interval``).
        interval_exp_name: Print ``Exp name: ...`` every this many iterations (and at epoch ends).
        out_dir: Copy the run's log files to ``out_dir/<basename of work_dir>`` after the run.
        out_suffix: Which files of the log dir are copied.
        keep_local: Keep the local copies after copying them to ``out_dir``.
        log_metric_by_epoch: Validation metrics are written with ``step = epoch`` (else ``iter``;
            always ``iter`` when the log processor is iteration-based).
        progress_bar: True/False forces the rich bar; None shows it when stdout is a terminal.
        file_client_args, backend_args: MMEngine's remote storage options; only None is supported.
    """

    priority = "BELOW_NORMAL"

    def __init__(self, interval: int = 10, ignore_last: bool = True, interval_exp_name: int = 1000,
                 out_dir: str | os.PathLike | None = None,
                 out_suffix: str | Sequence[str] = (".json", ".log", ".py", "yaml"),
                 keep_local: bool = True, file_client_args: dict | None = None,
                 log_metric_by_epoch: bool = True, backend_args: dict | None = None,
                 progress_bar: bool | None = None) -> None:
        for name, value in (("interval", interval), ("interval_exp_name", interval_exp_name)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"default_hooks.logger.{name}", f"expected a positive int, got {value!r}")
        for name, value in (("file_client_args", file_client_args), ("backend_args", backend_args)):
            if value is not None:
                raise ConfigError(f"default_hooks.logger.{name}",
                                  "remote storage backends are not supported; use a local out_dir")
        if not isinstance(out_suffix, (str, tuple, list)):
            raise ConfigError("default_hooks.logger.out_suffix",
                              f"expected a str or a sequence of str, got {type(out_suffix).__name__}")
        self.interval = interval
        self.ignore_last = ignore_last
        self.interval_exp_name = interval_exp_name
        self.out_dir = os.fspath(out_dir) if out_dir is not None else None
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.keep_local = keep_local
        self.log_metric_by_epoch = log_metric_by_epoch
        self.progress = ProgressBar(progress_bar)
        self.json_log_path: str | None = None
        self._epoch_len: int | None = None
        self._train_by_epoch = True  # decided in before_train, with the progress bar
        self._bar = progress_bar is not False
        self._next_check = 0  # iteration count from which after_train_iter looks again

    # -- run ---------------------------------------------------------------------------------
    def before_run(self, runner) -> None:
        self.json_log_path = f"{runner.timestamp}.json"
        if self.out_dir is not None:
            self.out_dir = os.path.join(self.out_dir, os.path.basename(os.path.normpath(runner.work_dir)))

    def after_run(self, runner) -> None:
        self.progress.stop()
        flush_log_file()  # complete before a backend uploads it or it is copied below
        runner.visualizer.close()
        if self.out_dir is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        for name in sorted(os.listdir(runner.log_dir)):
            path = os.path.join(runner.log_dir, name)
            if os.path.isfile(path) and name.endswith(self.out_suffix):
                shutil.copy2(path, os.path.join(self.out_dir, name))
                runner.logger.info(f"{path} was copied to {self.out_dir}")
                if not self.keep_local:
                    os.remove(path)

    # -- train -------------------------------------------------------------------------------
    def _by_epoch(self, runner) -> bool:
        return getattr(runner.log_processor, "by_epoch", True)

    def before_train_epoch(self, runner) -> None:
        self._epoch_len = len(runner.train_dataloader)  # read once, not every iteration
        self._next_check = 0  # batch indices restart: check the epoch's first iteration
        if self._by_epoch(runner):
            self.progress.start(f"Epoch {runner.epoch + 1}/{runner.max_epochs}", total=self._epoch_len)

    def before_train(self, runner) -> None:
        self._next_check = 0
        self._train_by_epoch = self._by_epoch(runner)
        self._bar = self.progress.wanted()  # isatty once per run, never per iteration

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        done = runner.iter + 1  # iterations finished, this one included
        if done < self._next_check:  # nothing is due before then (worked out at the last check)
            return
        by_epoch = self._train_by_epoch
        if self._bar:
            if not by_epoch and not self.progress.active:  # iteration-based: one bar for the run
                self.progress.start("Train", total=runner.max_iters, completed=runner.iter)
            self.progress.advance()
        epoch_len = self._epoch_len if self._epoch_len is not None else len(runner.train_dataloader)
        end_of_epoch = by_epoch and batch_idx + 1 == epoch_len
        if done % self.interval_exp_name == 0 or end_of_epoch:
            runner.logger.info(f"Exp name: {runner.experiment_name}")
        if by_epoch:
            due = (batch_idx + 1) % self.interval == 0 or (
                end_of_epoch and (not self.ignore_last or epoch_len <= self.interval))
        else:
            due = done % self.interval == 0
        self._next_check = self._next_due(done, batch_idx, epoch_len, by_epoch)
        if not due:
            return
        tag, line = runner.log_processor.get_log_after_iter(runner, batch_idx, "train")
        log_line(runner.logger, line)
        runner.visualizer.add_scalars(tag, step=done, file_path=self.json_log_path)

    def _next_due(self, done: int, batch_idx: int, epoch_len: int, by_epoch: bool) -> int:
        """The next iteration count at which a line, the experiment name or an epoch end can be
        due; iterations before it skip this hook's work. Every iteration with a progress bar."""
        if self._bar:
            return done + 1
        steps = self.interval_exp_name - done % self.interval_exp_name
        if by_epoch:
            steps = min(steps, self.interval - (batch_idx + 1) % self.interval)
            if batch_idx + 1 < epoch_len:
                steps = min(steps, epoch_len - (batch_idx + 1))
        else:
            steps = min(steps, self.interval - done % self.interval)
        return done + steps

    def after_train_epoch(self, runner) -> None:
        if self._by_epoch(runner):
            self.progress.stop()
        _flush(runner.visualizer)  # the log and scalars files are written in batches (at most 1 s late)

    def after_train(self, runner) -> None:
        self.progress.stop()

    # -- val / test --------------------------------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        self.progress.start("Val", total=len(runner.val_dataloader))

    def before_test_epoch(self, runner) -> None:
        self.progress.start("Test", total=len(runner.test_dataloader))

    def _eval_iter(self, runner, batch_idx: int, mode: str) -> None:
        self.progress.advance()
        if self.every_n_inner_iters(batch_idx, self.interval):
            _, line = runner.log_processor.get_log_after_iter(runner, batch_idx, mode)
            runner.logger.info(line)

    def after_val_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._eval_iter(runner, batch_idx, "val")

    def after_test_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs=None) -> None:
        self._eval_iter(runner, batch_idx, "test")

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self.progress.stop()
        tag, line = runner.log_processor.get_log_after_epoch(runner, len(runner.val_dataloader), "val")
        runner.logger.info(line)
        epochs = trained_epochs(runner)  # None: a val()-only run, logged at step 0
        if epochs is None:
            step = 0
        else:
            # An iteration-based run logs metrics at the iteration even if log_metric_by_epoch
            # was left at its default (MMEngine needs both set by hand).
            step = epochs if self.log_metric_by_epoch and self._by_epoch(runner) else runner.iter
        runner.visualizer.add_scalars(_scalars_only(tag), step=step, file_path=self.json_log_path)
        _flush(runner.visualizer)

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self.progress.stop()
        tag, line = runner.log_processor.get_log_after_epoch(
            runner, len(runner.test_dataloader), "test", with_non_scalar=True)
        runner.logger.info(line)
        path = os.path.join(runner.log_dir, self.json_log_path or f"{runner.timestamp}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_jsonable(tag), f)
