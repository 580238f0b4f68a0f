"""Where logged scalars and the run config go: a local JSON-lines file, or TensorBoard event files.

``LocalVisBackend`` writes ``<save_dir>/scalars.json`` (one JSON object per logged step, with
``step``) and ``<save_dir>/config.py``; ``TensorboardVisBackend`` writes real event files through
``torch.utils.tensorboard`` (the ``tensorboard`` package, imported only when the first value is
written). The Visualizer gives each backend ``save_dir = <log_dir>/vis_data``.
"""

from __future__ import annotations

import json
import numbers
import os
import pprint
import time
from typing import Any

from kiln.registry import VISBACKENDS

__all__ = ["BaseVisBackend", "LocalVisBackend", "TensorboardVisBackend"]


def _to_number(value: Any) -> Any:
    """Python number from a number, a one-element tensor or numpy value (logging only)."""
    if type(value) in (float, int) or isinstance(value, numbers.Number):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def config_text(config: Any) -> str:
    """A readable text of the run config (a kiln Config, a dict, or anything printable)."""
    text = getattr(config, "pretty_text", None)
    if isinstance(text, str):
        return text
    if isinstance(config, dict):
        return pprint.pformat(config, sort_dicts=False)
    return str(config)


class BaseVisBackend:
    """A destination for scalars/config. Subclasses override what they support; the rest is a no-op.

    Args:
        save_dir: Directory of this backend's files (created on first write).
    """

    def __init__(self, save_dir: str | os.PathLike | None = None) -> None:
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._dir_made = False

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    def _ensure_dir(self) -> str:
        if self._save_dir is None:
            raise ValueError(f"{type(self).__name__}: save_dir is not set; build it through the "
                             "Visualizer (it passes <log_dir>/vis_data) or give save_dir=")
        if not self._dir_made:
            os.makedirs(self._save_dir, exist_ok=True)
            self._dir_made = True
        return self._save_dir

    def add_config(self, config: Any, **kwargs: Any) -> None:
        pass

    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        pass

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@VISBACKENDS.register_module()
class LocalVisBackend(BaseVisBackend):
    """JSON lines in ``save_dir/scalars.json`` (and ``file_path`` if given), config in ``config.py``.

    Lines are buffered and flushed at most once per ``FLUSH_SECONDS``, at :meth:`flush` and at
    :meth:`close`.

    Args:
        save_dir: Directory of the files.
        scalar_save_file: Name of the scalars file.
        config_save_file: Name of the config file.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self, save_dir: str | os.PathLike | None = None, scalar_save_file: str = "scalars.json",
                 config_save_file: str = "config.py") -> None:
        super().__init__(save_dir)
        self._scalar_save_file = scalar_save_file
        self._config_save_file = config_save_file
        self._files: dict[str, Any] = {}
        self._targets: dict[str | None, list[Any]] = {}  # file_path -> open files it writes
        self._last_flush = time.monotonic()

    def add_config(self, config: Any, **kwargs: Any) -> None:
        path = os.path.join(self._ensure_dir(), self._config_save_file)
        if callable(getattr(config, "dump", None)):
            config.dump(path)
            return
        with open(path, "w", encoding="utf-8") as f:
            f.write(config_text(config) + "\n")

    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        self.add_scalars({name: value}, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        record = {k: _to_number(v) for k, v in scalar_dict.items()}
        record.setdefault("step", step)
        line = json.dumps(record) + "\n"
        targets = self._targets.get(file_path)
        if targets is None:  # checked and opened once per file_path, not at every log line
            targets = self._targets[file_path] = self._open_targets(file_path)
        for f in targets:
            f.write(line)
        # Buffered: a flush (one write syscall per file) at most every FLUSH_SECONDS keeps the
        # files readable while the run goes on, and a crash loses at most that much.
        now = time.monotonic()
        if now - self._last_flush >= self.FLUSH_SECONDS:
            self.flush()
            self._last_flush = now

    def _open_targets(self, file_path: str | None) -> list[Any]:
        save_dir = self._ensure_dir()
        names = [self._scalar_save_file]
        if file_path is not None:
            if os.path.basename(file_path) == self._scalar_save_file:
                raise ValueError(f"file_path {file_path!r} would write scalars twice into "
                                 f"{self._scalar_save_file}; choose another name")
            names.append(file_path)
        for name in names:
            if name not in self._files:  # kept open: reopening per step cost ~25 µs per file per line
                self._files[name] = open(os.path.join(save_dir, name), "a", encoding="utf-8")
        return [self._files[name] for name in names]

    def flush(self) -> None:
        """Write buffered lines to disk now (the LoggerHook calls it at epoch and run ends)."""
        for f in self._files.values():
            f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        self._targets = {}


@VISBACKENDS.register_module()
class TensorboardVisBackend(BaseVisBackend):
    """TensorBoard event files in ``save_dir`` (read them with ``tensorboard --logdir``).

    Args:
        save_dir: Directory of the event files.
    """

    def __init__(self, save_dir: str | os.PathLike | None = None) -> None:
        super().__init__(save_dir)
        self._writer = None

    @property
    def experiment(self):
        """The ``SummaryWriter`` (created on first use; importing tensorboard is slow)."""
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("TensorboardVisBackend needs the 'tensorboard' package: "
                                  "pip install tensorboard (or kiln[vis])") from exc
            self._writer = SummaryWriter(self._ensure_dir())
        return self._writer

    def add_config(self, config: Any, **kwargs: Any) -> None:
        self.experiment.add_text("config", config_text(config))

    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        value = _to_number(value)
        if isinstance(value, numbers.Number):
            self.experiment.add_scalar(name, value, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        for name, value in scalar_dict.items():
            if name != "step":
                self.add_scalar(name, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
