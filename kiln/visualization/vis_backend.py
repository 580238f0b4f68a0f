"""Where logged scalars and the run config go: a local JSON-lines file, or TensorBoard event files.

``LocalVisBackend`` writes ``<save_dir>/scalars.json`` (one JSON object per logged step, with
``step``) and ``<save_dir>/config.py``; ``TensorboardVisBackend`` writes real event files through
``torch.utils.tensorboard`` (the ``tensorboard`` package, imported only when the first value is
written). Both also take images (``add_image``: a PNG under ``<save_dir>/vis_image``, a
TensorBoard image). ``WandbVisBackend`` and ``MLflowVisBackend`` live in their own modules. The
Visualizer gives each backend ``save_dir = <log_dir>/vis_data``.
"""

from __future__ import annotations

import json
import numbers
import os
import pprint
import threading
from typing import Any

import numpy as np

from kiln.registry import VISBACKENDS
from kiln.utils.delayed_flush import DelayedFlush

__all__ = ["BaseVisBackend", "LocalVisBackend", "TensorboardVisBackend", "to_hwc_uint8"]


_JSON_LEAVES = frozenset({float, int, str, bool, type(None)})  # encoded by json.dumps, always


def _to_number(value: Any) -> Any:
    """Python number from a number, a one-element tensor or numpy value (logging only)."""
    if type(value) in (float, int) or isinstance(value, numbers.Number):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def to_hwc_uint8(image: Any) -> np.ndarray:
    """An RGB(A)/gray image as an ``(H, W, C)`` uint8 array.

    Takes a numpy array or tensor, ``HWC``/``HW`` or ``CHW`` (C in 1, 3, 4 and the last axis not),
    uint8 or float in [0, 1] (floats above 1 are taken as 0..255).
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"add_image: expected an (H, W[, C]) or (C, H, W) image, but got shape {array.shape}")
    if array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"add_image: expected 1, 3 or 4 channels, but got shape {array.shape}")
    if array.dtype != np.uint8:
        array = array.astype(np.float64)
        if array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return array


def config_text(config: Any) -> str:
    """A readable text of the run config (a kiln Config, a dict, or anything printable)."""
    text = getattr(config, "pretty_text", None)
    if isinstance(text, str):
        return text
    if isinstance(config, dict):
        return pprint.pformat(config, sort_dicts=False)
    return str(config)


def save_png(image: np.ndarray, path: str) -> None:
    """Write an ``(H, W, C)`` uint8 array as a PNG (Pillow, which matplotlib brings)."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("saving images needs Pillow: pip install pillow (or kiln[vis])") from exc
    Image.fromarray(image[:, :, 0] if image.shape[-1] == 1 else image).save(path)


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

    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@VISBACKENDS.register_module()
class LocalVisBackend(BaseVisBackend):
    """JSON lines in ``save_dir/scalars.json`` (and ``file_path`` if given), config in ``config.py``,
    images as PNG files in ``save_dir/vis_image``.

    Records are buffered and written at most ``FLUSH_SECONDS`` after the first unwritten one (a
    daemon timer, :class:`~kiln.utils.delayed_flush.DelayedFlush`), at :meth:`flush` and at :meth:`close`.

    Args:
        save_dir: Directory of the files.
        scalar_save_file: Name of the scalars file.
        config_save_file: Name of the config file.
        img_save_dir: Folder (under ``save_dir``) of the images.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self, save_dir: str | os.PathLike | None = None, scalar_save_file: str = "scalars.json",
                 config_save_file: str = "config.py", img_save_dir: str = "vis_image") -> None:
        super().__init__(save_dir)
        self._img_save_dir = img_save_dir
        self._scalar_save_file = scalar_save_file
        self._config_save_file = config_save_file
        self._files: dict[str, Any] = {}
        self._targets: dict[str | None, list[Any]] = {}  # file_path -> open files it writes
        self._records: list[tuple[str | None, dict[str, Any]]] = []  # (file_path, record) not yet written
        self._lock = threading.Lock()
        self._delayed = DelayedFlush(self.flush, self.FLUSH_SECONDS)

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
        record = {k: _to_number(v) for k, v in scalar_dict.items()}  # numbers now: values may change
        record.setdefault("step", step)
        if not all(type(v) in _JSON_LEAVES for v in record.values()):
            json.dumps(record)  # anything else is encoded here, so a bad value fails in this call
        with self._lock:  # the timer's thread may be writing the records out
            if file_path not in self._targets:  # checked and opened once per file_path, here: errors now
                self._targets[file_path] = self._open_targets(file_path)
            # Kept as records, encoded and written at a flush: at most FLUSH_SECONDS after the first
            # unwritten one (a timer), at epoch/run ends and on close. A batch of lines costs a
            # fraction of writing each at its log line; a crash loses at most that much.
            self._records.append((file_path, record))
        self._delayed.pending()

    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        """Save ``<save_dir>/<img_save_dir>/<name>_<step>.png`` (MMEngine's layout)."""
        folder = os.path.join(self._ensure_dir(), self._img_save_dir)
        os.makedirs(folder, exist_ok=True)
        save_png(to_hwc_uint8(image), os.path.join(folder, f"{name}_{step}.png"))

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
        """Write the buffered records to disk now (the LoggerHook calls it at epoch and run ends)."""
        with self._lock:
            records, self._records = self._records, []
            for file_path, record in records:
                line = json.dumps(record) + "\n"
                for f in self._targets[file_path]:
                    f.write(line)
            for f in self._files.values():
                f.flush()

    def close(self) -> None:
        self._delayed.cancel()
        self.flush()
        with self._lock:
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

    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        self.experiment.add_image(name, to_hwc_uint8(image), step, dataformats="HWC")

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        for name, value in scalar_dict.items():
            if name != "step":
                self.add_scalar(name, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
