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
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from kiln.logging.history_buffer import HistoryBuffer, _PendingScalars, non_finite_loss, to_python
from kiln.utils.manager import ManagerMixin

__all__ = ["HistoryBuffer", "MessageHub"]  # HistoryBuffer: its old import path

# Values logged for later are filed at the latest after this many calls (a run that never reads
# its scalars must not grow an unbounded list).
_MAX_LATER = 1024

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


def _numbers(column: list[Any]) -> list[float | int] | None:
    """Python numbers of a column of one-element tensors (:func:`to_python`: one read each on the
    CPU, one ``stack`` per device on an accelerator) or of floats; None for anything else (mixed
    types or shapes), which the caller files value by value."""
    if type(column[0]) is torch.Tensor:
        if all(type(t) is torch.Tensor and t.numel() == 1 for t in column):  # detached losses
            return to_python(column)
        return None
    if all(type(v) is float for v in column):  # lr, timings
        return column
    return None


class MessageHub(ManagerMixin):
    """Named hub of log scalars (``HistoryBuffer`` per key) and runtime info.

    ``MessageHub.get_instance(name)`` returns (creating on first use) the hub of that name;
    ``get_current_instance()`` returns the most recently created one, or creates ``'kiln'`` when
    there is none yet (MMEngine's ManagerMixin semantics; MMEngine auto-creates ``'mmengine'``).
    """

    def __init__(self, name: str = "kiln", log_scalars: Mapping[str, HistoryBuffer] | None = None,
                 runtime_info: Mapping[str, Any] | None = None,
                 resumed_keys: Mapping[str, bool] | None = None) -> None:
        super().__init__(name)
        self._pending = _PendingScalars()
        # Values logged by update_scalars_later, not filed yet, per layout (prefix, first_of_each,
        # names): (rows of values, the iteration of each row). A layout is a column block, filed
        # by one C-level transpose; _later_keys: the full keys with pending values.
        self._later: dict[tuple[str, bool, tuple[str, ...]], tuple[list[tuple], list[Any]]] = {}
        self._later_keys: set[str] = set()
        self._log_scalars: OrderedDict[str, HistoryBuffer] = OrderedDict()
        for key, buffer in (log_scalars or {}).items():
            self._adopt(key, buffer)
        self._runtime_info: OrderedDict[str, Any] = OrderedDict(runtime_info or {})
        self._resumed_keys: dict[str, bool] = dict(resumed_keys or {})

    # -- instances (ManagerMixin) -------------------------------------------------------------
    @classmethod
    def new_instance(cls, name: str, **kwargs: Any) -> MessageHub:
        """A fresh hub called ``name`` (replacing any older one of that name), made current.

        For the Runner: two runs started in the same second share an experiment name, and the
        second must not smooth its first log line with the first run's values.
        """
        return cls(name=name, **kwargs)._register_instance()

    @classmethod
    def get_current_instance(cls) -> MessageHub:
        if not cls._instance_dict:
            return cls.get_instance("kiln")
        return super().get_current_instance()

    # -- scalars -----------------------------------------------------------------------------
    def _adopt(self, key: str, buffer: HistoryBuffer) -> HistoryBuffer:
        buffer._sync()
        buffer._pending = self._pending
        self._log_scalars[key] = buffer
        return buffer

    def update_scalar(self, key: str, value: Any, count: float = 1, resumed: bool = True) -> None:
        """Log ``value`` under ``key``. A tensor is NOT synced here (see the module docstring)."""
        if key in self._later_keys:  # this key's values logged for later go first
            self._expand_later()
        buffer = self._log_scalars.get(key)
        if buffer is None:
            buffer = self._adopt(key, HistoryBuffer())
        buffer.update(value, count, key, self._runtime_info.get("iter"))
        self._resumed_keys[key] = resumed

    def update_scalars_later(self, values: Mapping[str, Any], prefix: str = "",
                             first_of_each: bool = False) -> None:
        """Log each ``values`` item under ``prefix + key``, filed when the hub is next read.

        The per-iteration path (``RuntimeInfoHook``: losses, lr): one list append per call
        instead of a buffer update per key; the values are filed, in order, the moment anything
        reads or writes a scalar, so readers never see the difference. ``first_of_each``: each
        value is a list and its first element is logged (``optim_wrapper.get_lr()``'s layout).
        The mapping is copied; the values themselves must not change afterwards.
        """
        layout = (prefix, first_of_each, tuple(values))
        pending = self._later.get(layout)
        if pending is None:
            pending = self._new_layout(layout)
        pending[0].append(tuple(values.values()))  # a snapshot: the caller may reuse its dict
        pending[1].append(self._runtime_info.get("iter"))
        if len(pending[1]) >= _MAX_LATER:
            self._expand_later()

    def _new_layout(self, layout: tuple[str, bool, tuple[str, ...]]) -> tuple[list[tuple], list[Any]]:
        prefix, _, names = layout
        keys = {prefix + name for name in names}
        if not keys.isdisjoint(self._later_keys):  # a key's values must stay in logging order
            self._expand_later()
        self._later_keys |= keys
        pending: tuple[list[tuple], list[Any]] = ([], [])
        self._later[layout] = pending
        return pending

    def _expand_later(self) -> None:
        """File the values logged for later: each layout's rows transposed into one column per key
        (``zip``, C-level), each column converted and appended at once."""
        later, self._later = self._later, {}
        self._later_keys = set()
        for (prefix, first_of_each, names), (rows, its) in later.items():
            for name, column in zip(names, zip(*rows)):
                if first_of_each:
                    if not all(type(v) is list and v for v in column):
                        for v in column:  # raises, naming the entry
                            first_values({name: v})
                    column = [v[0] for v in column]
                self._file_column(prefix + name, list(column), its)

    def _file_column(self, key: str, column: list[Any], its: list[Any]) -> None:
        """Append ``column`` (values of ``key`` logged at iterations ``its``) to its buffer."""
        buffer = self._log_scalars.get(key)
        if buffer is None:
            buffer = self._adopt(key, HistoryBuffer())
        self._resumed_keys[key] = True
        numbers = _numbers(column)
        if numbers is None:  # anything else, value by value (validated, in order)
            for value, it in zip(column, its):
                buffer.update(value, 1, key, it)
            return
        buffer.extend(numbers)
        if "loss" in key and not all(map(math.isfinite, numbers)):
            i = next(i for i, v in enumerate(numbers) if not math.isfinite(v))
            raise non_finite_loss(key, numbers[i], its[i])

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
        if self._later:
            self._expand_later()
        if key not in self._log_scalars:
            raise KeyError(f"{key!r} is not logged in message hub {self.instance_name!r} "
                           f"(logged: {', '.join(self._log_scalars) or 'nothing yet'})")
        return self._log_scalars[key]

    @property
    def log_scalars(self) -> OrderedDict[str, HistoryBuffer]:
        if self._later:
            self._expand_later()
        return self._log_scalars

    def flush(self) -> None:
        """File the values logged for later and convert pending tensors now (one batched
        device→host copy)."""
        if self._later:
            self._expand_later()
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
        self.flush()
        for key, buffer in state_dict.get("log_scalars", {}).items():
            if isinstance(buffer, HistoryBuffer):
                self._adopt(key, buffer)
            else:
                self._adopt(key, HistoryBuffer(**buffer))
        self._runtime_info.update(state_dict.get("runtime_info", {}))
        self._resumed_keys.update(state_dict.get("resumed_keys", {}))


def first_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: first element}`` of an ``optim_wrapper.get_lr()``-style mapping of lists.

    Raises:
        TypeError: naming the entry that is not a non-empty list.
    """
    for name, value in values.items():
        if not (isinstance(value, (list, tuple)) and value):
            raise TypeError(f"optim_wrapper.get_lr() must map names to non-empty lists of "
                            f"values, but {name!r} is {value!r}")
    return {name: value[0] for name, value in values.items()}


def mean_over_ranks(values: Mapping[str, float]) -> Mapping[str, float]:
    """``values`` averaged across ranks (each key over the ranks that logged it); the log interval's
    one collective, so that nothing on the per-iteration path talks to other ranks.

    Every rank must call it at the same point (the LoggerHook does, at each train log line).
    Objects, not one tensor, are gathered: a key that only some ranks log cannot hang the job.
    """
    from kiln.dist import all_gather_object, is_distributed

    if not is_distributed():
        return values  # type: ignore[return-value]  # the caller's fresh dict, as it is
    gathered = all_gather_object(dict(values))
    return OrderedDict((key, sum(g[key] for g in gathered if key in g) / sum(key in g for g in gathered))
                       for key in values)
