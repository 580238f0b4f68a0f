"""``CheckpointHook``: save checkpoints every N epochs/iterations, the last one, and the best ones.

MMEngine's behaviour and file names (``epoch_N.pth``, ``iter_N.pth``, ``best_<key>_epoch_N.pth``,
``work_dir/last_checkpoint``), with the safety MMEngine lacks: files are written atomically,
the oldest checkpoint (``max_keep_ckpts``) and the previous best are deleted only AFTER the new
file is safely on disk, a non-finite metric is never marked best, and weights with NaN/inf are
never saved (:func:`kiln.runner.checkpointing.save_checkpoint` refuses them).

Example:
    >>> default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
    ...                                      save_best='auto'))
"""

from __future__ import annotations

import glob
import hashlib
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from kiln.checkpoint.async_save import PendingSaves
from kiln.checkpoint.model_state import default_save_format
from kiln.checkpoint.saving import DIGEST_SUFFIX
from kiln.dist import is_main_process
from kiln.errors import ConfigError
from kiln.hooks.hook import DATA_BATCH, Hook
from kiln.logging import print_log
from kiln.registry import HOOKS, reject_unknown_kwargs

__all__ = ["CheckpointHook"]

_RULES = {"greater": lambda x, y: x > y, "less": lambda x, y: x < y}
_INIT_VALUES = {"greater": -math.inf, "less": math.inf}
_DEFAULT_GREATER = ["acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc"]
_DEFAULT_LESS = ["loss"]


def infer_rule(key: str, greater_keys: Sequence[str] = _DEFAULT_GREATER,
               less_keys: Sequence[str] = _DEFAULT_LESS) -> str | None:
    """``'greater'``/``'less'`` for a metric name, MMEngine's way (also EarlyStoppingHook's).

    Exact name (case-insensitive) first, then substring; None when nothing matches.
    """
    lowered = key.lower()
    greater = [k.lower() for k in greater_keys]
    less = [k.lower() for k in less_keys]
    if lowered in greater:
        return "greater"
    if lowered in less:
        return "less"
    if any(k in lowered for k in greater):
        return "greater"
    if any(k in lowered for k in less):
        return "less"
    return None


def _as_list(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(path, f"expected a str or a list of str, but got {value!r}")


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save checkpoints periodically, at the end, and for the best validation metric(s).

    Args:
        interval: Save every ``interval`` epochs (``by_epoch``) or iterations; -1 never
            (``save_last`` still applies).
        by_epoch: Count ``interval`` in epochs (True) or iterations.
        save_optimizer: Include the optimizer state (needed to resume).
        save_param_scheduler: Include the schedulers' states (needed to resume).
        out_dir: Directory of the files (default ``runner.work_dir``); a different directory
            gets a sub-directory named like the work_dir, as in MMEngine.
        max_keep_ckpts: Keep only the newest this many periodic checkpoints (-1: all).
        save_last: Also save after the last epoch/iteration.
        save_best: A metric key, a list of keys, or ``'auto'`` (the first metric): keep the
            checkpoint with the best value as ``best_<key>_epoch_N.pth``.
        rule: ``'greater'`` or ``'less'`` (or a list, one per key); inferred from the key name
            when None (``acc``/``mAP``/... → greater, ``loss`` → less).
        greater_keys / less_keys: Replace the names used for that inference.
        filename_tmpl: File name template, default ``'epoch_{}.pth'`` / ``'iter_{}.pth'``.
        published_keys: After training, publish the last/best checkpoint with only these keys
            (e.g. ``['meta', 'state_dict']``) as ``<name>-<sha256[:8]>.pth``.
        save_begin: First epoch/iteration at which periodic saving may happen.
        save_format: ``'pth'``; ``'safetensors'`` for the published/best weights-only files;
            ``'dcp'``: every checkpoint is a sharded directory (``iter_10/``) that every rank
            writes and any world size resumes (:mod:`kiln.checkpoint.dcp`). Default (None):
            ``'dcp'`` for an FSDP2 model, else ``'pth'``.
        async_save: Stage each save to the CPU and write it in the background; the next save
            and the end of training wait for it (:mod:`kiln.checkpoint.async_save`).
        file_client_args / backend_args: Accepted for MMEngine configs; only local files are supported.
    """

    priority = "VERY_LOW"

    def __init__(self, interval: int = -1, by_epoch: bool = True, save_optimizer: bool = True,
                 save_param_scheduler: bool = True, out_dir: str | None = None,
                 max_keep_ckpts: int = -1, save_last: bool = True,
                 save_best: str | list[str] | None = None, rule: str | list[str] | None = None,
                 greater_keys: str | Sequence[str] | None = None,
                 less_keys: str | Sequence[str] | None = None, file_client_args: dict | None = None,
                 filename_tmpl: str | None = None, backend_args: dict | None = None,
                 published_keys: str | list[str] | None = None, save_begin: int = 0,
                 save_format: str | None = None, async_save: bool = False, **kwargs: Any) -> None:
        if not isinstance(interval, int) or isinstance(interval, bool):
            raise ConfigError("default_hooks.checkpoint.interval", f"expected an int, but got {interval!r}")
        if save_begin < 0:
            raise ConfigError("default_hooks.checkpoint.save_begin", f"expected >= 0, but got {save_begin}")
        if save_format not in (None, "pth", "safetensors", "dcp"):
            raise ConfigError("default_hooks.checkpoint.save_format",
                              f"expected 'pth', 'safetensors' or 'dcp', but got {save_format!r}")
        if not isinstance(async_save, bool):
            raise ConfigError("default_hooks.checkpoint.async_save", f"expected a bool, but got {async_save!r}")
        for name, value in (("file_client_args", file_client_args), ("backend_args", backend_args)):
            if value and value.get("backend", "local") != "local":
                raise ConfigError(f"default_hooks.checkpoint.{name}",
                                  f"only local files are supported, but got {value!r}")
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_optimizer = save_optimizer
        self.save_param_scheduler = save_param_scheduler
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.save_begin = save_begin
        self.save_format = save_format
        self.async_save = async_save
        self._pending = PendingSaves()
        reject_unknown_kwargs(type(self), kwargs, "default_hooks.checkpoint")  # nothing reads them
        self.args = kwargs
        self._given_tmpl = filename_tmpl
        self.filename_tmpl = filename_tmpl or ("epoch_{}.pth" if by_epoch else "iter_{}.pth")
        self.published_keys = _as_list(published_keys, "default_hooks.checkpoint.published_keys") or None
        self.key_indicators = _as_list(save_best, "default_hooks.checkpoint.save_best")
        if "auto" in self.key_indicators and len(self.key_indicators) > 1:
            raise ConfigError("default_hooks.checkpoint.save_best",
                              f"'auto' cannot be combined with other keys, but got {self.key_indicators}")
        self.save_best = save_best if self.key_indicators else None
        rules = _as_list(rule, "default_hooks.checkpoint.rule")
        if len(rules) == 1 and len(self.key_indicators) > 1:
            rules = rules * len(self.key_indicators)
        if rules and len(rules) != len(self.key_indicators):
            raise ConfigError("default_hooks.checkpoint.rule",
                              f"got {len(rules)} rules for {len(self.key_indicators)} save_best keys")
        self.greater_keys = _as_list(greater_keys, "default_hooks.checkpoint.greater_keys") or _DEFAULT_GREATER
        self.less_keys = _as_list(less_keys, "default_hooks.checkpoint.less_keys") or _DEFAULT_LESS
        self.rules: dict[str, str] = {}
        self._auto_rule = rules[0] if rules and self.key_indicators == ["auto"] else None
        if self.key_indicators and self.key_indicators != ["auto"]:
            self._init_rules(rules or [None] * len(self.key_indicators), self.key_indicators)
        self.last_ckpt: str | None = None
        self.best_ckpt_path: dict[str, str | None] = {}
        self.keep_ckpt_ids: list[int] = []

    # -- rules -------------------------------------------------------------------------------
    def _init_rules(self, rules: Sequence[str | None], keys: Sequence[str]) -> None:
        for rule, key in zip(rules, keys):
            if rule is not None and rule not in _RULES:
                raise ConfigError("default_hooks.checkpoint.rule",
                                  f"expected 'greater', 'less' or None, but got {rule!r}")
            self.rules[key] = rule or self._infer_rule(key)

    def _infer_rule(self, key: str) -> str:
        rule = infer_rule(key, self.greater_keys, self.less_keys)
        if rule is None:
            raise ConfigError("default_hooks.checkpoint.rule",
                              f"cannot infer whether a greater or a smaller {key!r} is better; "
                              "set rule='greater' or rule='less'")
        return rule

    # -- stages ------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        work_dir = runner.work_dir
        if self.out_dir is None:
            self.out_dir = work_dir
        elif os.path.abspath(self.out_dir) != os.path.abspath(work_dir):
            self.out_dir = os.path.join(self.out_dir, os.path.basename(os.path.normpath(work_dir)))
        print_log(f"Checkpoints will be saved to {self.out_dir}.", logger="current")
        if self.save_format is None:
            model = getattr(runner, "model", None)
            self.save_format = default_save_format(model) if model is not None else "pth"
        if self.save_format == "dcp" and self._given_tmpl is None:
            self.filename_tmpl = "epoch_{}" if self.by_epoch else "iter_{}"
        if is_main_process():
            _remove_partial_saves(self.out_dir)
        hub = runner.message_hub
        self.last_ckpt = hub.get_info("last_ckpt", self.last_ckpt)
        self.keep_ckpt_ids = list(hub.get_info("keep_ckpt_ids", self.keep_ckpt_ids) or [])
        single = len(self.key_indicators) == 1  # several keys are stored as best_ckpt_<key>
        for key in self.key_indicators:
            self.best_ckpt_path[key] = hub.get_info(self._info_key("best_ckpt", key, single))

    def skips(self, stage: str, runner) -> bool:
        return stage == "after_train_iter" and self.by_epoch  # saves at epoch ends only

    def after_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        if self.every_n_epochs(runner, self.interval, self.save_begin) or (
                self.save_last and self.is_last_train_epoch(runner)):
            print_log(f"Saving checkpoint at {runner.epoch + 1} epochs", logger="current")
            self._save_periodic(runner, runner.epoch + 1)

    def after_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                         outputs: dict | None = None) -> None:
        if self.by_epoch:
            return
        if self.every_n_train_iters(runner, self.interval, self.save_begin) or (
                self.save_last and self.is_last_train_iter(runner)):
            print_log(f"Saving checkpoint at {runner.iter + 1} iterations", logger="current")
            self._save_periodic(runner, runner.iter + 1)

    def after_val_epoch(self, runner, metrics: dict[str, float] | None = None) -> None:
        if not self.key_indicators:
            return
        if not metrics:
            print_log("Since `metrics` is an empty dict, the behavior to save the best checkpoint "
                      "will be skipped in this evaluation.", logger="current", level=logging.WARNING)
            return
        self._save_best(runner, metrics)

    def after_train(self, runner) -> None:
        self._pending.wait_all()  # a save still in flight is completed (or its failure raised)
        if not self.published_keys:
            return
        sources = [self.last_ckpt] if self.save_last and self.last_ckpt else []
        sources += [p for p in self.best_ckpt_path.values() if p]
        if is_main_process():
            for path in sources:
                if os.path.exists(path):
                    self._publish(path)

    # -- periodic ----------------------------------------------------------------------------
    def _save_periodic(self, runner, step: int) -> None:
        filename = self.filename_tmpl.format(step)
        self._pending.wait_all()  # the previous save is complete before this one starts
        hub = runner.message_hub
        expired: list[int] = []
        if self.max_keep_ckpts > 0:
            # The window as it is once this file is saved goes INTO the checkpoint: a run resumed
            # from it then knows this very file, and deletes it when it falls out of the window.
            if step not in self.keep_ckpt_ids:
                self.keep_ckpt_ids.append(step)
            expired = self.keep_ckpt_ids[:-self.max_keep_ckpts]
            self.keep_ckpt_ids = self.keep_ckpt_ids[-self.max_keep_ckpts:]
            hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        saved = runner.save_checkpoint(self.out_dir, filename, save_optimizer=self.save_optimizer,
                                       save_param_scheduler=self.save_param_scheduler, meta=None,
                                       by_epoch=self.by_epoch, **self._save_kwargs())
        self._pending.after(saved, lambda: self._after_periodic_save(runner, filename, expired))

    def _save_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"save_format": "dcp"} if self.save_format == "dcp" else {}
        if self.async_save:
            kwargs["async_save"] = True
        return kwargs

    def _after_periodic_save(self, runner, filename: str, expired: list[int]) -> None:
        """Bookkeeping once the checkpoint is on disk: last_checkpoint, then deleting old ones."""
        hub = runner.message_hub
        self.last_ckpt = os.path.join(self.out_dir, filename)
        hub.update_info("last_ckpt", self.last_ckpt)
        if is_main_process():
            self._write_last_checkpoint(runner.work_dir, self.last_ckpt)
            for old in expired:  # the new file is on disk now
                _remove(os.path.join(self.out_dir, self.filename_tmpl.format(old)))
            preempted = hub.get_info("preempt_ckpt")  # a preemption's one-off iter_N.pth
            if self.max_keep_ckpts > 0 and preempted and preempted != self.last_ckpt:
                _remove(preempted)
        hub.update_info("preempt_ckpt", None)

    @staticmethod
    def _write_last_checkpoint(work_dir: str, path: str) -> None:
        from kiln.checkpoint.saving import atomic_save

        def write_text(text: str, tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)

        atomic_save(path, os.path.join(work_dir, "last_checkpoint"), writer=write_text)

    # -- best ----------------------------------------------------------------------------------
    @staticmethod
    def _info_key(name: str, key: str, single: bool = True) -> str:
        return name if single else f"{name}_{key}"

    def _save_best(self, runner, metrics: dict[str, Any]) -> None:
        if self.key_indicators == ["auto"]:
            first = next(iter(metrics))
            self.key_indicators = [first]
            self._init_rules([self._auto_rule], [first])
            self.best_ckpt_path.setdefault(first, runner.message_hub.get_info("best_ckpt"))
        if self.by_epoch:
            filename, step_name, step = self.filename_tmpl.format(runner.epoch), "epoch", runner.epoch
        else:
            filename, step_name, step = self.filename_tmpl.format(runner.iter), "iter", runner.iter
        single = len(self.key_indicators) == 1
        hub = runner.message_hub
        for key in self.key_indicators:
            if key not in metrics:
                print_log(f"save_best: the metric {key!r} is not among the evaluation results "
                          f"({', '.join(metrics)}); no best checkpoint for it this time.",
                          logger="current", level=logging.WARNING)
                continue
            score = float(metrics[key])
            if not math.isfinite(score):
                print_log(f"save_best: {key} = {score} is not finite; it is never marked best.",
                          logger="current", level=logging.WARNING)
                continue
            rule = self.rules[key]
            best_score_key = self._info_key("best_score", key, single)
            best = hub.get_info(best_score_key, _INIT_VALUES[rule])
            if not _RULES[rule](score, best):
                continue
            name = f"best_{key}_{filename}".replace("/", "_")
            path = self._save_best_file(runner, name)
            new_path = path
            previous = self.best_ckpt_path.get(key)
            if previous and previous != new_path and is_main_process():  # only after the new one is saved
                _remove(previous)
            self.best_ckpt_path[key] = new_path
            hub.update_info(best_score_key, score)
            hub.update_info(self._info_key("best_ckpt", key, single), new_path)
            print_log(f"The best checkpoint with {score:0.4f} {key} at {step} {step_name} "
                      f"is saved to {name}.", logger="current")

    def _save_best_file(self, runner, name: str) -> str:
        """Save the weights-only best checkpoint; with safetensors, export ``state_dict`` from it."""
        self._pending.wait_all()
        kwargs = {"save_format": "dcp"} if self.save_format == "dcp" else {}
        runner.save_checkpoint(self.out_dir, name, save_optimizer=False, save_param_scheduler=False,
                               meta=None, by_epoch=False, **kwargs)
        path = os.path.join(self.out_dir, name)
        if self.save_format != "safetensors":
            return path
        target = os.path.splitext(path)[0] + ".safetensors"
        if is_main_process():
            from kiln.checkpoint.reading import read_checkpoint
            from kiln.checkpoint.saving import save_checkpoint

            save_checkpoint(read_checkpoint(path), target, save_format="safetensors")
            _remove(path)
        return target

    # -- publishing ----------------------------------------------------------------------------
    def _publish(self, path: str) -> None:
        """Re-save ``path`` with only ``published_keys``, named after its content hash."""
        from kiln.checkpoint.dcp import read_weights_checkpoint
        from kiln.checkpoint.saving import save_checkpoint

        checkpoint = read_weights_checkpoint(path)
        missing = [k for k in self.published_keys if k not in checkpoint]
        if missing:
            raise ConfigError("default_hooks.checkpoint.published_keys",
                              f"{missing} not in checkpoint {path} (it has: {', '.join(checkpoint)})")
        published = {k: checkpoint[k] for k in self.published_keys}
        stem = os.path.splitext(path)[0]
        ext = ".safetensors" if self.save_format == "safetensors" else ".pth"
        tmp = save_checkpoint(published, f"{stem}-publishing{ext}", save_format=self.save_format)
        digest = _sha256(tmp)[:8]
        final = f"{stem}-{digest}{ext}"
        os.replace(tmp, final)
        if os.path.exists(tmp + DIGEST_SUFFIX):
            os.replace(tmp + DIGEST_SUFFIX, final + DIGEST_SUFFIX)
        print_log(f"The checkpoint {path} is published to {final}.", logger="current")


def _remove_partial_saves(out_dir: str) -> None:
    """Delete temp files/dirs of saves a crash interrupted (``.epoch_3.pth.<random>.tmp``, ``.iter_5.partial``)."""
    from kiln.checkpoint.dcp import remove_partial_dcp

    partial = glob.glob(os.path.join(glob.escape(out_dir), ".*.pth.*.tmp"))
    partial += glob.glob(os.path.join(glob.escape(out_dir), ".*.safetensors.*.tmp"))
    for path in partial:
        _remove(path)
    count = len(partial) + remove_partial_dcp(out_dir)
    if count:
        print_log(f"Removed {count} partial checkpoint file(s) left by an interrupted save "
                  f"in {out_dir}.", logger="current")


def _sha256(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _remove(path: str) -> None:
    from kiln.checkpoint.dcp import remove_checkpoint

    for name in (path, path + DIGEST_SUFFIX):  # a checkpoint goes with its digest sidecar
        remove_checkpoint(name)  # a file or a DCP directory; missing is fine
