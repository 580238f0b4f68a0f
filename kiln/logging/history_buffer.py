"""``HistoryBuffer``: the bounded history of one logged value, and its statistics.

A ring buffer of ``(value, count)`` pairs: ``mean(window)`` is MMEngine's sum of the last values
over the sum of their counts, ``current()`` the last value, ``min``/``max`` over a window. Values
logged as tensors are kept as they come and converted in ONE batched device→host copy when first
read (see :class:`~kiln.logging.message_hub.MessageHub`). Statistics are looked up by name in a
class-level table that ``@HistoryBuffer.register_statistics`` extends, as in MMEngine.

Example:
    >>> buf = HistoryBuffer()
    >>> for v in (1.0, 2.0, 6.0):
    ...     buf.update(v)
    >>> buf.mean(2), buf.current(), buf.statistics('max')
    (4.0, 6.0, 6.0)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = ["HistoryBuffer", "to_python"]

# Pending tensors are converted at the latest after this many updates, so a run that never
# reads its scalars (no LoggerHook) does not keep an ever-growing list of device tensors.
_MAX_PENDING = 4096


class _PendingScalars:
    """Tensor values not yet converted to python floats, shared by the buffers of one hub."""

    def __init__(self) -> None:
        self.items: list[tuple[HistoryBuffer, torch.Tensor, float, str, Any]] = []

    def add(self, buffer: HistoryBuffer, value: torch.Tensor, count: float, key: str, it: Any) -> None:
        self.items.append((buffer, value, count, key, it))
        buffer._n_pending += 1
        if len(self.items) >= _MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Convert every pending tensor (see :func:`to_python`)."""
        if not self.items:
            return
        items, self.items = self.items, []
        for buffer, *_ in items:
            buffer._n_pending = 0
        values = to_python([value for _, value, _, _, _ in items])
        bad = None
        for (buffer, _, count, key, it), v in zip(items, values):
            buffer._append(v, count)
            if bad is None and "loss" in key and not math.isfinite(v):
                bad = (key, v, it)
        if bad is not None:
            raise non_finite_loss(*bad)


def non_finite_loss(key: str, value: float, it: Any) -> FloatingPointError:
    """The error a logged non-finite loss stops training with (found when values are converted)."""
    where = f"iteration {it + 1} (runner.iter={it})" if isinstance(it, int) else "an unknown iteration"
    return FloatingPointError(f"non-finite loss: {key!r} = {value} at {where}; "
                              "stopping (lower the lr, check the data, or clip gradients)")


def to_python(tensors: list[torch.Tensor]) -> list[float | int]:
    """Python numbers of one-element tensors, in order: one read each on the CPU, one batched
    copy (``stack`` → ``tolist``) per (device, dtype) group on an accelerator — the deliberate
    device→host sync of the logging path, once per group per log interval. Integer tensors
    give ints (an integer metric prints as ``n: 12``)."""
    if all(t.is_cpu and t.dtype.is_floating_point for t in tensors):  # nothing to wait for
        return [t.item() for t in tensors]
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, value in enumerate(tensors):
        groups.setdefault((value.device, value.dtype), []).append(i)
    values: list[float | int] = [0.0] * len(tensors)
    for (device, _), indices in groups.items():
        group = [tensors[i] for i in indices]
        if device.type == "cpu":  # nothing to wait for: no stack kernel
            numbers = [t.item() for t in group]
        else:
            numbers = torch.stack([t if t.ndim == 0 else t.reshape(()) for t in group]).tolist()
        for i, v in zip(indices, numbers):
            values[i] = v if type(v) is int else float(v)
    return values


def _check_window(window: Any) -> None:
    if isinstance(window, bool) or not (window is None or isinstance(window, int)) or (window or 0) < 0:
        raise ValueError(f"window_size must be None or an int >= 0, but got {window!r}")


def _nonempty(values: list[float], name: str, reduce: Callable[[list[float]], float]) -> float:
    if not values:
        raise ValueError(f"{name}() of an empty history: call update() first")
    return reduce(values)


class HistoryBuffer:
    """A bounded history of one logged value (a ring buffer: O(1) per update).

    Args:
        log_history: Initial values.
        count_history: Initial counts (how many samples each value stands for).
        max_length: Oldest entries are dropped beyond this many.
    """

    # name -> function(buffer, *args, **kwargs); MMEngine's table, extended by register_statistics
    _statistics_methods: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init__(self, log_history: list | None = None, count_history: list | None = None,
                 max_length: int = 1_000_000) -> None:
        log_history = list(log_history or [])
        count_history = list(count_history or [1] * len(log_history))
        if len(log_history) != len(count_history):
            raise ValueError(f"log_history has {len(log_history)} values but count_history "
                             f"has {len(count_history)}")
        self.max_length = max_length
        self._values: deque[float] = deque((float(v) for v in log_history), maxlen=max_length)
        self._counts: deque[float] = deque(count_history, maxlen=max_length)
        self._pending: _PendingScalars | None = None
        self._own_pending: _PendingScalars | None = None
        self._n_pending = 0  # tensors of this buffer awaiting conversion (a plain value must wait behind them)

    def update(self, value: float | int | torch.Tensor | np.number, count: float = 1,
               key: str = "", iteration: Any = None) -> None:
        """Append a value. A tensor is kept as is (detached) and converted later, in a batch."""
        if type(value) is float and not self._n_pending:  # the common case (timings, lr)
            self._values.append(value)
            self._counts.append(count)
            return
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"{key or 'value'}: a logged tensor must hold one element, "
                                 f"but got shape {tuple(value.shape)}")
            value = value.detach() if value.requires_grad else value
            if self._pending is None:
                self._own_pending = self._own_pending or _PendingScalars()
                self._pending = self._own_pending
            self._pending.add(self, value, count, key, iteration)  # shape fixed at flush time
            return
        if self._n_pending:  # keep the order: convert the tensors logged before this value first
            self._sync()
        # ints stay ints (an integer metric prints as ``n: 12``, MMEngine's way), the rest floats
        self._append(int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                     else float(value), count)

    def extend(self, values: list[float | int], count: float = 1) -> None:
        """Append python numbers, oldest first (the hub files a log interval's values at once)."""
        if self._n_pending:
            self._sync()
        self._values.extend(values)
        self._counts.extend([count] * len(values))

    def _append(self, value: float, count: float) -> None:
        self._values.append(value)
        self._counts.append(count)

    def _sync(self) -> None:
        if self._pending is not None:
            self._pending.flush()

    @property
    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, counts)`` as arrays, oldest first."""
        self._sync()
        return np.array(self._values, dtype=np.float64), np.array(self._counts, dtype=np.float64)

    def _last(self, window: int | None) -> tuple[list[float], list[float]]:
        self._sync()
        _check_window(window)
        if not window or window >= len(self._values):  # None and 0 mean all (MMEngine)
            return list(self._values), list(self._counts)
        values = list(islice(reversed(self._values), window))[::-1]
        counts = list(islice(reversed(self._counts), window))[::-1]
        return values, counts

    @classmethod
    def register_statistics(cls, method: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: make ``method`` callable as ``buffer.statistics(method.__name__, ...)``.

        Example:
            >>> @HistoryBuffer.register_statistics
            ... def weighted_mean(self, window_size=None):
            ...     values, counts = self.data
            ...     return float((values * counts).sum() / counts.sum())
        """
        name = method.__name__
        if name in cls._statistics_methods:
            raise KeyError(f"HistoryBuffer already has a statistic named {name!r}")
        cls._statistics_methods[name] = method
        return method

    @classmethod
    def statistic_names(cls) -> list[str]:
        """``mean``, ``current``, ``min``, ``max`` and every registered statistic."""
        return list(cls._statistics_methods)

    def mean(self, window_size: int | None = None) -> float:
        """Sum of the last ``window_size`` values over the sum of their counts (MMEngine's mean)."""
        if self._n_pending:  # read at every log line: no calls when nothing awaits conversion
            self._sync()
        if type(window_size) is not int or window_size < 0:
            _check_window(window_size)
        if not self._values:
            raise ValueError("mean() of an empty history: call update() first")
        if not window_size or window_size >= len(self._values):
            return sum(self._values) / sum(self._counts)
        # called at every log line: sums over the newest entries, no intermediate lists
        return sum(islice(reversed(self._values), window_size)) / sum(islice(reversed(self._counts), window_size))

    def current(self) -> float:
        """The latest value."""
        if self._n_pending:
            self._sync()
        if not self._values:
            raise ValueError("current() of an empty history: call update() first")
        return self._values[-1]

    def max(self, window_size: int | None = None) -> float:
        """The largest of the last ``window_size`` values."""
        return _nonempty(self._last(window_size)[0], "max", max)

    def min(self, window_size: int | None = None) -> float:
        """The smallest of the last ``window_size`` values."""
        return _nonempty(self._last(window_size)[0], "min", min)

    def statistics(self, method_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a registered statistic by name (LogProcessor's ``custom_cfg`` uses this)."""
        method = self._statistics_methods.get(method_name)
        if method is None:
            raise KeyError(f"{method_name!r} is not a statistic of HistoryBuffer; registered: "
                           f"{', '.join(self._statistics_methods)}")
        return method(self, *args, **kwargs)

    def __len__(self) -> int:
        if self._n_pending:
            self._sync()
        return len(self._values)

    def state_dict(self) -> dict[str, Any]:
        self._sync()
        return {"log_history": list(self._values), "count_history": list(self._counts),
                "max_length": self.max_length}


for _name in ("mean", "current", "max", "min"):
    HistoryBuffer._statistics_methods[_name] = getattr(HistoryBuffer, _name)
del _name
