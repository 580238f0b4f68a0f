"""Read MMEngine checkpoints without running their pickles.

An MMEngine checkpoint pickles ``mmengine.logging.HistoryBuffer`` objects (in ``message_hub``)
and numpy arrays/scalars inside them; ``torch.load(weights_only=True)`` refuses those globals,
and ``weights_only=False`` would execute whatever the file names. Instead, those global names
are mapped to inert stand-ins inside torch's restricted unpickler: the stand-ins only record the
state they are given (numpy data is decoded from raw bytes with ``numpy.frombuffer``, never via
numpy's unpickling), and :func:`convert_foreign` turns them into plain values afterwards. No
code named by the file runs, and nothing needs mmengine to be installed.

Two more names appear in files the real MMEngine 0.10.7 Runner writes (see
``tests/data/mmengine_0.10.7_tiny.pth`` and the script that made it):

- ``builtins.getattr(HistoryBuffer, 'mean')`` (and ``min``/``max``/``current``): each pickled
  buffer carries the class-level ``statistics_methods`` table by reference. The real ``getattr``
  would be a sandbox escape (``getattr`` chains reach ``__globals__``), so the name maps to
  :func:`_getattr_stand_in`, which answers only those four lookups on the HistoryBuffer stand-in
  and refuses everything else.
- ``collections.Counter`` (MultiStepLR's ``milestones``) is on torch's own allowlist; it stays a
  Counter, and :func:`convert_foreign` assigns into it rather than ``update`` (which would add).

Example:
    >>> from kiln.checkpoint.mmengine_compat import mmengine_safe_globals, convert_foreign
    >>> import torch
    >>> with mmengine_safe_globals():  # doctest: +SKIP
    ...     ckpt = convert_foreign(torch.load('mmengine_epoch_3.pth', weights_only=True))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["mmengine_safe_globals", "convert_foreign", "HistoryBufferStandIn", "message_hub_to_plain"]

_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


class _Inert:
    """Base of the stand-ins: an object that only stores the state handed to it."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class HistoryBufferStandIn:
    """Takes the place of ``mmengine.logging.HistoryBuffer``; BUILD fills ``__dict__`` only."""


class _NdarrayMarker(_Inert):
    """Stands for the ``numpy.ndarray`` class passed to ``_reconstruct``; never instantiated by data."""


class _DtypeStandIn(_Inert):
    """A numpy dtype described by its name; only plain numeric/bool/str dtypes are decoded."""

    def __init__(self, name: Any = "f8", align: Any = False, copy: Any = True) -> None:
        self.name = name if isinstance(name, str) else str(name)
        self.state: Any = None

    def to_numpy(self):
        import numpy as np

        if self.name.lstrip("<>=|")[:1] in ("O", "V"):
            raise ValueError(f"numpy dtype {self.name!r} is not decoded (object/void data)")
        order = self.state[1] if isinstance(self.state, tuple) and len(self.state) > 1 else "="
        dtype = np.dtype(self.name)
        return dtype.newbyteorder(order) if order in "<>" else dtype


class _ArrayStandIn(_Inert):
    """An ndarray as recorded by pickle: ``(version, shape, dtype, is_fortran, raw bytes | list)``."""

    def __init__(self, *args: Any) -> None:
        self.state: Any = None

    def to_plain(self) -> Any:
        _version, shape, dtype, is_fortran, raw = self.state
        if not isinstance(raw, (bytes, bytearray)):  # object arrays pickle a list of loaded values
            return convert_foreign(list(raw))
        import numpy as np

        array = np.frombuffer(bytes(raw), dtype=dtype.to_numpy())
        array = array.reshape(tuple(shape), order="F" if is_fortran else "C")
        return torch.from_numpy(np.ascontiguousarray(array).copy())


_HISTORY_STATISTICS = frozenset({"min", "max", "current", "mean"})


class _StatisticRef(_Inert):
    """What ``getattr(HistoryBuffer, 'mean')`` resolves to here: the statistic's name, nothing callable."""

    def __init__(self, name: str) -> None:
        self.name = name


def _getattr_stand_in(obj: Any, name: Any, *default: Any) -> _StatisticRef:
    """``getattr`` as an MMEngine pickle uses it, and no other way (a real getattr escapes the sandbox)."""
    if obj is HistoryBufferStandIn and name in _HISTORY_STATISTICS and not default:
        return _StatisticRef(name)
    import pickle

    raise pickle.UnpicklingError(f"refused getattr({getattr(obj, '__name__', type(obj).__name__)}, {name!r}): "
                                 "only HistoryBuffer's statistics methods are resolved when reading an "
                                 "MMEngine checkpoint")


def _scalar_stand_in(dtype: _DtypeStandIn, raw: Any = None) -> Any:
    """``numpy.core.multiarray.scalar(dtype, bytes)`` → the Python number it encodes."""
    import numpy as np

    if not isinstance(raw, (bytes, bytearray)):
        return raw
    return np.frombuffer(bytes(raw), dtype=dtype.to_numpy())[0].item()


def _safe_globals() -> list[tuple[Any, str]]:
    names: list[tuple[Any, str]] = [
        (HistoryBufferStandIn, "mmengine.logging.history_buffer.HistoryBuffer"),
        (_DtypeStandIn, "numpy.dtype"),
        (_NdarrayMarker, "numpy.ndarray"),
        (_getattr_stand_in, "builtins.getattr"),
        (_getattr_stand_in, "__builtin__.getattr"),
    ]
    for module in _NUMPY_MODULES:
        names += [(_ArrayStandIn, f"{module}._reconstruct"), (_scalar_stand_in, f"{module}.scalar")]
    # numpy >= 1.25 pickles dtypes as their own classes, e.g. numpy.dtypes.Float64DType
    for kind in ("Float64", "Float32", "Float16", "Int64", "Int32", "Int16", "Int8", "UInt8",
                 "UInt16", "UInt32", "UInt64", "Bool"):
        names.append((_DtypeStandIn, f"numpy.dtypes.{kind}DType"))
    return names


@contextlib.contextmanager
def mmengine_safe_globals() -> Iterator[None]:
    """Within this block, ``torch.load(weights_only=True)`` reads MMEngine checkpoints (inertly)."""
    with torch.serialization.safe_globals(_safe_globals()):
        yield


def convert_foreign(obj: Any) -> Any:
    """Replace the stand-ins in a loaded checkpoint by plain values (tensors, numbers, dicts)."""
    if isinstance(obj, HistoryBufferStandIn):  # its statistics_methods table holds names only: dropped
        return {key.lstrip("_"): convert_foreign(value) for key, value in vars(obj).items()
                if key != "statistics_methods"}
    if isinstance(obj, _ArrayStandIn):
        return obj.to_plain()
    if isinstance(obj, _DtypeStandIn):
        return obj.name
    if isinstance(obj, dict):
        converted = {k: convert_foreign(v) for k, v in obj.items()}
        if type(obj) is dict:
            return converted
        for key, value in converted.items():  # keep OrderedDict and its _metadata; Counter.update would add
            obj[key] = value
        return obj
    if isinstance(obj, list):
        return [convert_foreign(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(convert_foreign(v) for v in obj)
    return obj


def message_hub_to_plain(state: dict[str, Any]) -> dict[str, Any]:
    """An MMEngine ``message_hub`` entry (after :func:`convert_foreign`) in kiln's plain layout.

    Each history buffer becomes ``{'log_history': [...], 'count_history': [...], 'max_length': n}``
    (what ``kiln.logging.message_hub.HistoryBuffer(**state)`` takes); runtime info and
    ``resumed_keys`` are kept as they are.
    """
    scalars = {}
    for key, buf in state.get("log_scalars", {}).items():
        if isinstance(buf, dict) and "log_history" in buf:
            scalars[key] = {
                "log_history": _as_list(buf["log_history"]),
                "count_history": _as_list(buf.get("count_history", [1] * len(buf["log_history"]))),
                "max_length": int(buf.get("max_length", 1_000_000)),
            }
        elif isinstance(buf, dict):  # already kiln's layout
            scalars[key] = buf
    return {"log_scalars": scalars, "runtime_info": dict(state.get("runtime_info", {})),
            "resumed_keys": dict(state.get("resumed_keys", {}))}


def _as_list(value: Any) -> list:
    return value.tolist() if isinstance(value, torch.Tensor) else list(value)
