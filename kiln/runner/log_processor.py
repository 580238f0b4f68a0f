"""Turn the message hub's scalars into MMEngine's log lines (and the dict sent to the visualizer).

The lines match MMEngine's byte for byte, because people grep and parse them::

    Epoch(train) [1][ 10/938]  lr: 1.0000e-03  eta: 0:05:12  time: 0.0110  data_time: 0.0020  loss: 2.2889
    Epoch(train)  [1][ 10/938]  ...    (10 to 99 epochs: the field is right-aligned, "Epoch(train) [10]")
    Iter(train) [ 10/300]  lr: 1.0000e-03  eta: ...
    Epoch(val) [1][ 10/157]    eta: 0:00:01  time: 0.0050  data_time: 0.0010  (two trailing spaces)
    Epoch(val) [1][157/157]    accuracy: 89.5000  n: 157  data_time: 0.0010  time: 0.0050

(checked against MMEngine 0.10.7 by running the same tiny job on both: an epoch field
``[e]`` right-aligned to the width of ``[max_epochs]`` after one space; the batch index
right-aligned to the width of the epoch length; integer values printed as integers.)

Values whose name matches ``mean_pattern`` are averaged over the last ``window_size`` entries,
others show their latest value. Reading them is the one place where logged tensors are
converted (one batched device→host copy, see ``message_hub``).
"""

from __future__ import annotations

import copy
import datetime
import re
from collections import OrderedDict
from typing import Any

import torch

from kiln.errors import ConfigError
from kiln.hooks.logger_hook import trained_epochs
from kiln.logging.history_buffer import HistoryBuffer
from kiln.logging.message_hub import mean_over_ranks
from kiln.registry import LOG_PROCESSORS

__all__ = ["LogProcessor"]

_TIME_KEYS = ("time", "data_time")


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


@LOG_PROCESSORS.register_module()
class LogProcessor:
    """Format the log lines of train/val/test iterations and val/test epochs.

    Args:
        window_size: Default smoothing window (iterations) for keys matching ``mean_pattern``.
        by_epoch: Epoch-style lines (``Epoch(train) [e][i/n]``) or iteration-style (``Iter(train) [i/N]``).
        custom_cfg: Extra statistics, e.g. ``[dict(data_src='loss', method_name='mean',
            window_size='global', log_name='loss_global')]``; ``window_size`` may be an int,
            ``'epoch'`` or ``'global'``.
        num_digits: Decimals of floats in the line.
        log_with_hierarchy: Keep ``train/``/``val/`` prefixes in the dict sent to the visualizer.
        mean_pattern: Regex of keys averaged over the window.
    """

    def __init__(self, window_size: int = 10, by_epoch: bool = True, custom_cfg: list[dict] | None = None,
                 num_digits: int = 4, log_with_hierarchy: bool = False,
                 mean_pattern: str = r".*(loss|time|data_time|grad_norm).*") -> None:
        if not isinstance(window_size, int) or window_size <= 0:
            raise ConfigError("log_processor.window_size", f"expected a positive int, got {window_size!r}")
        self.window_size = window_size
        self.by_epoch = by_epoch
        self.custom_cfg = list(custom_cfg or [])
        self.num_digits = num_digits
        self.log_with_hierarchy = log_with_hierarchy
        self.mean_pattern = re.compile(mean_pattern)
        self._names: dict[str, dict[str, Any]] = {}  # prefix -> {key: _name_entry(key, prefix)}
        self._cuda: bool | None = None  # CUDA memory in the lines: learnt at the first one
        self._check_custom_cfg()

    def _check_custom_cfg(self) -> None:
        sources, names = set(), set()
        for i, cfg in enumerate(self.custom_cfg):
            path = f"log_processor.custom_cfg[{i}]"
            if not isinstance(cfg, dict) or "data_src" not in cfg:
                raise ConfigError(path, f"expected a dict with 'data_src', got {cfg!r}")
            statistics = HistoryBuffer.statistic_names()  # mean/current/min/max + registered ones
            if cfg.get("method_name", "mean") not in statistics:
                raise ConfigError(f"{path}.method_name", f"{cfg['method_name']!r} is not a statistic of "
                                  f"HistoryBuffer; registered: {', '.join(statistics)}")
            window = cfg.get("window_size", self.window_size)
            if not (isinstance(window, int) and window > 0) and window not in ("epoch", "global"):
                raise ConfigError(f"{path}.window_size", f"expected a positive int, 'epoch' or 'global', got {window!r}")
            name = cfg.get("log_name", cfg["data_src"])
            if name in names:
                raise ConfigError(f"{path}.log_name", f"{name!r} is produced twice; give each statistic its own log_name")
            if "log_name" not in cfg:
                if cfg["data_src"] in sources:
                    raise ConfigError(path, f"data_src {cfg['data_src']!r} is overwritten twice; set log_name")
                sources.add(cfg["data_src"])
            names.add(name)

    # -- collecting values ------------------------------------------------------------------
    def _resolve_window(self, window: Any, runner, batch_idx: int | None) -> int | None:
        if window == "epoch":
            return (batch_idx or 0) + 1
        if window == "global":
            return runner.iter + 1
        return window

    def _collect_scalars(self, runner, mode: str, batch_idx: int | None,
                         custom_cfg: list[dict]) -> OrderedDict[str, float]:
        """``{name: value}`` of the hub's ``{mode}/`` scalars (prefix kept if log_with_hierarchy)."""
        prefix = f"{mode}/"
        hub = runner.message_hub
        hub.flush()  # the batched conversion of everything logged since the last read
        out: OrderedDict[str, float] = OrderedDict()
        names = self._names.get(prefix)
        if names is None:
            names = self._names[prefix] = {}
        for key, buffer in hub.log_scalars.items():
            entry = names.get(key)
            if entry is None:  # prefix test, name and regex once per key, not at every log line
                entry = names[key] = self._name_entry(key, prefix)
            if not entry or not len(buffer):  # another mode's key, or nothing logged yet
                continue
            name, smoothed = entry
            out[name] = buffer.mean(self.window_size) if smoothed else buffer.current()
        for cfg in custom_cfg:
            key = prefix + cfg["data_src"]
            if key not in hub.log_scalars:
                continue
            window = self._resolve_window(cfg.get("window_size", self.window_size), runner, batch_idx)
            method = cfg.get("method_name", "mean")
            args = () if method == "current" else (window,)
            name = cfg.get("log_name", cfg["data_src"])
            out[prefix + name if self.log_with_hierarchy else name] = \
                hub.log_scalars[key].statistics(method, *args)
        return mean_over_ranks(out) if mode == "train" else out  # train iterations run in lockstep

    def _name_entry(self, key: str, prefix: str) -> tuple[str, bool] | tuple[()]:
        """``(name shown, smoothed?)`` for a ``{mode}/`` key; ``()`` for keys of other modes."""
        if not key.startswith(prefix):
            return ()
        short = key[len(prefix):]
        # A val/test metric (val_loss included) is one value per evaluation: show that value, not a
        # mean over the last window_size evaluations; only their timings are per-iteration.
        smoothed = bool(self.mean_pattern.match(short)) and (prefix == "train/" or short in _TIME_KEYS)
        return (key if self.log_with_hierarchy else short), smoothed

    def _collect_non_scalars(self, runner, mode: str) -> OrderedDict[str, Any]:
        prefix = f"{mode}/"
        return OrderedDict((key if self.log_with_hierarchy else key[len(prefix):], value)
                           for key, value in runner.message_hub.runtime_info.items()
                           if key.startswith(prefix))

    def _fmt(self, value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.{self.num_digits}f}"
        if isinstance(value, (torch.Tensor,)) or type(value).__name__ == "ndarray":
            return f"\n{value}\n"
        return str(value)

    @staticmethod
    def _dataloader_len(runner, mode: str) -> int:
        return len(getattr(runner, f"{mode}_dataloader"))

    @staticmethod
    def _max_memory(runner) -> int:
        """Peak CUDA memory (MB) since the last call; a host-side counter read, not a device sync."""
        device = torch.cuda.current_device()
        mem = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        return int(mem // (1024 * 1024))

    # -- lines ------------------------------------------------------------------------------
    def _iter_header(self, runner, batch_idx: int, mode: str, tag: dict) -> str:
        if self.by_epoch:
            n = self._dataloader_len(runner, mode)
            cur = str(batch_idx + 1).rjust(len(str(n)))
            if mode == "test":
                return f"Epoch(test) [{cur}/{n}]  "
            if mode == "train":
                epoch, max_epochs = runner.epoch + 1, runner.max_epochs
            else:  # validation after epoch e is labelled e; a val()-only run has no epochs
                epochs = trained_epochs(runner)
                epoch, max_epochs = (epochs or 0), (runner.max_epochs if epochs is not None else None)
            field = f"[{epoch}]"
            if max_epochs is not None:  # right-aligned under "[max_epochs]": "[1]" or " [1]" of 10
                field = field.rjust(len(str(max_epochs)) + 2)
            tag["epoch"] = epoch
            return f"Epoch({mode}) {field}[{cur}/{n}]  "
        if mode == "train":
            cur = str(runner.iter + 1).rjust(len(str(runner.max_iters)))
            return f"Iter(train) [{cur}/{runner.max_iters}]  "
        n = self._dataloader_len(runner, mode)
        cur = str(batch_idx + 1).rjust(len(str(n)))
        return f"Iter({mode}) [{cur}/{n}]  "

    def get_log_after_iter(self, runner, batch_idx: int, mode: str) -> tuple[dict, str]:
        """The line (and visualizer dict) after ``batch_idx`` of a train/val/test epoch."""
        if mode not in ("train", "val", "test"):
            raise ValueError(f"mode must be 'train', 'val' or 'test', but got {mode!r}")
        tag = self._collect_scalars(runner, mode, batch_idx, self.custom_cfg)  # a fresh dict
        prefix = f"{mode}/" if self.log_with_hierarchy else ""
        shown: dict[str, Any] = {}
        lrs = []
        for k, v in tag.items():  # lr values first (scientific notation), then the rest
            k = _strip(k, prefix) if prefix else k
            if k.endswith("lr"):
                lrs.append(f"{k}: {v:.{self.num_digits}e}")
            else:
                shown[k] = v
        line = self._iter_header(runner, batch_idx, mode, tag)
        if mode == "train":
            tag["iter"] = runner.iter + 1
        line += " ".join(lrs) + "  "
        eta = runner.message_hub.get_info("eta")
        if eta is not None and "time" in shown and "data_time" in shown:
            digits = self.num_digits
            line += (f"eta: {datetime.timedelta(seconds=int(eta))}  time: {shown.pop('time'):.{digits}f}  "
                     f"data_time: {shown.pop('data_time'):.{digits}f}  ")
        if self._cuda is None:  # asked once (torch reads the environment at each call)
            self._cuda = torch.cuda.is_available()
        if self._cuda:
            memory = self._max_memory(runner)
            line += f"memory: {memory}  "
            tag["memory"] = memory
        items = [f"{k}: {self._fmt(v)}" for k, v in shown.items()
                 if mode == "train" or (mode == "val" and "loss" in k)]
        line += "  ".join(items)
        return tag, line  # as MMEngine: a val/test line without items ends in two spaces

    def get_log_after_epoch(self, runner, batch_idx: int, mode: str,
                            with_non_scalar: bool = False) -> tuple[dict, str]:
        """The summary line of a val/test epoch: metrics first, then the epoch-mean timings."""
        if mode not in ("val", "test"):
            raise ValueError(f"mode must be 'val' or 'test', but got {mode!r}")
        n = self._dataloader_len(runner, mode)
        if not self.by_epoch:
            line = f"Iter({mode}) [{n}/{n}]  "
        elif mode == "val":
            line = f"Epoch(val) [{trained_epochs(runner) or 0}][{n}/{n}]  "
        else:
            line = f"Epoch(test) [{n}/{n}]  "
        custom_cfg = copy.deepcopy(self.custom_cfg)
        sources = {c["data_src"] for c in custom_cfg}
        for key in _TIME_KEYS:  # timings of a val/test epoch are averaged over that epoch
            if key not in sources:
                custom_cfg.append(dict(data_src=key, window_size=n, method_name="mean"))
        scalars = self._collect_scalars(runner, mode, batch_idx, custom_cfg)
        non_scalars = self._collect_non_scalars(runner, mode) if with_non_scalar else OrderedDict()
        prefix = f"{mode}/" if self.log_with_hierarchy else ""
        tag: dict[str, Any] = OrderedDict()
        times: dict[str, Any] = OrderedDict()
        for key, value in scalars.items():
            (times if _strip(key, prefix) in _TIME_KEYS else tag)[key] = value
        items = [f"{_strip(k, prefix)}: {self._fmt(v)}"
                 for k, v in [*tag.items(), *non_scalars.items(), *times.items()]]
        line += "  " + "  ".join(items)
        tag.update(non_scalars)
        tag.update(times)
        return tag, line
