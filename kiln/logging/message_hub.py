"""The run's shared scratchpad: smoothed log scalars and runtime info, without per-key device syncs.

Hooks write here (``RuntimeInfoHook`` the losses and lr, ``IterTimerHook`` the timings) and the
``LogProcessor`` reads at log intervals. MMEngine ``.item()``-s every logged tensor every
iteration (one GPU→CPU sync per key); kiln keeps the detached 0-d tensors as they come and
converts all pending ones in ONE batch (``stack`` → ``tolist``) the first time anything is read.
That batched conversion is also where a non-finite loss is caught: it raises
``FloatingPointError`` naming the key, the value and the iteration it was logged at.

Example:
    >>> hub = MessageHub.get_instance('demo')
    >>> hub.update_scalar('train/loss', torch.tensor(0.5))   # no sync here
    >>> hub.get_scalar('train/loss').current()                # one batched conversion here
    0.5
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Mapping
from itertools import islice
from typing import Any

import numpy as np
import torch

__all__ = ["HistoryBuffer", "MessageHub"]

# Pending tensors are converted at the latest after this many updates, so a run that never
# reads its scalars (no LoggerHook) does not keep an ever-growing list of device tensors.
_MAX_PENDING = 4096


class _PendingScalars:
    """Tensor values not yet converted to python floats, shared by the buffers of one hub."""

    def __init__(self) -> None:
        self.items: list[tuple[HistoryBuffer, torch.Tensor, float, str, Any]] = []

    def add(self, buffer: HistoryBuffer, value: torch.Tensor, count: float, key: str, it: Any) -> None:
        self.items.append((buffer, value, count, key, it))
        if len(self.items) >= _MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Convert every pending tensor with one ``tolist()`` per (device, dtype) group."""
        if not self.items:
            return
        items, self.items = self.items, []
        groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
        for i, (_, value, _, _, _) in enumerate(items):
            groups.setdefault((value.device, value.dtype), []).append(i)
        values: list[float] = [0.0] * len(items)
        for indices in groups.values():
            # The deliberate device→host sync of the logging path: one per group per log interval.
            tensors = [items[i][1] for i in indices]
            floats = torch.stack([t if t.ndim == 0 else t.reshape(()) for t in tensors]).tolist()
            for i, v in zip(indices, floats):
                values[i] = float(v)
        bad = None
        for (buffer, _, count, key, it), v in zip(items, values):
            buffer._append(v, count)
            if bad is None and "loss" in key and not math.isfinite(v):
                bad = (key, v, it)
        if bad is not None:
            key, v, it = bad
            where = f"iteration {it + 1} (runner.iter={it})" if isinstance(it, int) else "an unknown iteration"
            raise FloatingPointError(f"non-finite loss: {key!r} = {v} at {where}; "
                                     "stopping (lower the lr, check the data, or clip gradients)")


class HistoryBuffer:
    """A bounded history of one logged value (a ring buffer: O(1) per update).

    Args:
        log_history: Initial values.
        count_history: Initial counts (how many samples each value stands for).
        max_length: Oldest entries are dropped beyond this many.
    """

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

    def update(self, value: float | int | torch.Tensor | np.number, count: float = 1,
               key: str = "", iteration: Any = None) -> None:
        """Append a value. A tensor is kept as is (detached) and converted later, in a batch."""
        if type(value) is float:  # the common case (timings, lr): skip the checks below
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
        self._append(float(value), count)

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
        if window is None or window >= len(self._values):
            return list(self._values), list(self._counts)
        if window <= 0:
            raise ValueError(f"window_size must be a positive int, but got {window}")
        values = list(islice(reversed(self._values), window))[::-1]
        counts = list(islice(reversed(self._counts), window))[::-1]
        return values, counts

    def mean(self, window_size: int | None = None) -> float:
        """Sum of the last ``window_size`` values over the sum of their counts (MMEngine's mean)."""
        values, counts = self._last(window_size)
        if not values:
            raise ValueError("mean() of an empty history")
        return sum(values) / sum(counts)

    def current(self) -> float:
        self._sync()
        if not self._values:
            raise ValueError("current() of an empty history")
        return self._values[-1]

    def max(self, window_size: int | None = None) -> float:
        return max(self._last(window_size)[0])

    def min(self, window_size: int | None = None) -> float:
        return min(self._last(window_size)[0])

    def statistics(self, method_name: str, *args: Any) -> float:
        """Call ``mean``/``current``/``min``/``max`` by name (LogProcessor's ``custom_cfg``)."""
        if method_name not in ("mean", "current", "min", "max"):
            raise ValueError(f"method_name: {method_name!r} is not a statistic; "
                             "expected mean, current, min or max")
        return getattr(self, method_name)(*args)

    def __len__(self) -> int:
        self._sync()
        return len(self._values)

    def state_dict(self) -> dict[str, Any]:
        self._sync()
        return {"log_history": list(self._values), "count_history": list(self._counts),
                "max_length": self.max_length}


def _plain(value: Any) -> tuple[bool, Any]:
    """``(ok, value)`` with tensors/numpy turned into python; ok=False if not checkpoint-safe."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True, value
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return True, value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return all(ok for ok, _ in items), type(value)(v for _, v in items)
    if isinstance(value, Mapping):
        items = {k: _plain(v) for k, v in value.items()}
        ok = all(isinstance(k, (str, int)) and ok for k, (ok, _) in items.items())
        return ok, {k: v for k, (_, v) in items.items()}
    return False, value


class MessageHub:
    """Named hub of log scalars (``HistoryBuffer`` per key) and runtime info.

    ``MessageHub.get_instance(name)`` returns (creating on first use) the hub of that name and
    makes it current; ``get_current_instance()`` returns the latest one (MMEngine's
    ManagerMixin semantics).
    """

    _instances: dict[str, MessageHub] = {}
    _current: str | None = None

    def __init__(self, name: str = "kiln", log_scalars: Mapping[str, HistoryBuffer] | None = None,
                 runtime_info: Mapping[str, Any] | None = None,
                 resumed_keys: Mapping[str, bool] | None = None) -> None:
        self.instance_name = name
        self._pending = _PendingScalars()
        self._log_scalars: OrderedDict[str, HistoryBuffer] = OrderedDict()
        for key, buffer in (log_scalars or {}).items():
            self._adopt(key, buffer)
        self._runtime_info: OrderedDict[str, Any] = OrderedDict(runtime_info or {})
        self._resumed_keys: dict[str, bool] = dict(resumed_keys or {})

    # -- instances ---------------------------------------------------------------------------
    @classmethod
    def get_instance(cls, name: str, **kwargs: Any) -> MessageHub:
        if name not in cls._instances:
            cls._instances[name] = cls(name=name, **kwargs)
        cls._current = name
        return cls._instances[name]

    @classmethod
    def new_instance(cls, name: str, **kwargs: Any) -> MessageHub:
        """A fresh hub called ``name`` (replacing any older one of that name), made current.

        For the Runner: two runs started in the same second share an experiment name, and the
        second must not smooth its first log line with the first run's values.
        """
        cls._instances[name] = cls(name=name, **kwargs)
        cls._current = name
        return cls._instances[name]

    @classmethod
    def get_current_instance(cls) -> MessageHub:
        if cls._current is None:
            return cls.get_instance("kiln")
        return cls._instances[cls._current]

    @classmethod
    def check_instance_created(cls, name: str) -> bool:
        return name in cls._instances

    # -- scalars -----------------------------------------------------------------------------
    def _adopt(self, key: str, buffer: HistoryBuffer) -> HistoryBuffer:
        buffer._sync()
        buffer._pending = self._pending
        self._log_scalars[key] = buffer
        return buffer

    def update_scalar(self, key: str, value: Any, count: float = 1, resumed: bool = True) -> None:
        """Log ``value`` under ``key``. A tensor is NOT synced here (see the module docstring)."""
        buffer = self._log_scalars.get(key)
        if buffer is None:
            buffer = self._adopt(key, HistoryBuffer())
        if type(value) is float:  # timings and lr, every iteration: nothing to check or convert
            buffer._values.append(value)
            buffer._counts.append(count)
        else:
            buffer.update(value, count, key, self._runtime_info.get("iter"))
        self._resumed_keys[key] = resumed

    def update_scalars(self, log_dict: Mapping[str, Any], resumed: bool = True) -> None:
        """``{key: value}`` or ``{key: dict(value=v, count=n)}``."""
        if not isinstance(log_dict, Mapping):
            raise TypeError(f"update_scalars expects a dict, but got {type(log_dict).__name__}")
        for key, value in log_dict.items():
            if isinstance(value, Mapping):
                if "value" not in value:
                    raise KeyError(f"{key}: a dict value needs a 'value' key, got {sorted(value)}")
                self.update_scalar(key, value["value"], value.get("count", 1), resumed)
            else:
                self.update_scalar(key, value, 1, resumed)

    def get_scalar(self, key: str) -> HistoryBuffer:
        if key not in self._log_scalars:
            raise KeyError(f"{key!r} is not logged in message hub {self.instance_name!r} "
                           f"(logged: {', '.join(self._log_scalars) or 'nothing yet'})")
        return self._log_scalars[key]

    @property
    def log_scalars(self) -> OrderedDict[str, HistoryBuffer]:
        return self._log_scalars

    def flush(self) -> None:
        """Convert all pending tensor values now (one batched device→host copy)."""
        self._pending.flush()

    # -- runtime info ------------------------------------------------------------------------
    def update_info(self, key: str, value: Any, resumed: bool = True) -> None:
        self._runtime_info[key] = value
        self._resumed_keys[key] = resumed

    def update_info_dict(self, info_dict: Mapping[str, Any], resumed: bool = True) -> None:
        for key, value in info_dict.items():
            self.update_info(key, value, resumed)

    def get_info(self, key: str, default: Any = None) -> Any:
        return self._runtime_info.get(key, default)

    def pop_info(self, key: str, default: Any = None) -> Any:
        self._resumed_keys.pop(key, None)
        return self._runtime_info.pop(key, default)

    @property
    def runtime_info(self) -> OrderedDict[str, Any]:
        return self._runtime_info

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain python only (lists, dicts, numbers, strings): checkpoints load with weights_only=True.

        Runtime info that cannot be represented that way (arbitrary objects) is left out.
        """
        self.flush()
        scalars = {k: b.state_dict() for k, b in self._log_scalars.items() if self._resumed_keys.get(k, True)}
        info = {}
        for key, value in self._runtime_info.items():
            if not self._resumed_keys.get(key, True):
                continue
            ok, plain = _plain(value)
            if ok:
                info[key] = plain
        return {"log_scalars": scalars, "runtime_info": info,
                "resumed_keys": {k: v for k, v in self._resumed_keys.items() if k in scalars or k in info}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        for key, buffer in state_dict.get("log_scalars", {}).items():
            if isinstance(buffer, HistoryBuffer):
                self._adopt(key, buffer)
            else:
                self._adopt(key, HistoryBuffer(**buffer))
        self._runtime_info.update(state_dict.get("runtime_info", {}))
        self._resumed_keys.update(state_dict.get("resumed_keys", {}))
