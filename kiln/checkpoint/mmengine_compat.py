"""Read MMEngine checkpoints without running their pickles.

An MMEngine checkpoint pickles ``mmengine.logging.HistoryBuffer`` objects (in ``message_hub``)
and numpy arrays/scalars inside them; ``torch.load(weights_only=True)`` refuses those globals,
and ``weights_only=False`` would execute whatever the file names. Instead, those global names
are mapped to inert stand-ins inside torch's restricted unpickler: the stand-ins only record the
state they are given (numpy data is decoded from raw bytes with ``numpy.frombuffer``, never via
numpy's unpickling), and :func:`convert_foreign` turns them into plain values afterwards. No
code named by the file runs, and nothing needs mmengine to be installed.

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
    if isinstance(obj, HistoryBufferStandIn):
        return {key.lstrip("_"): convert_foreign(value) for key, value in vars(obj).items()}
    if isinstance(obj, _ArrayStandIn):
        return obj.to_plain()
    if isinstance(obj, _DtypeStandIn):
        return obj.name
    if isinstance(obj, dict):
        converted = {k: convert_foreign(v) for k, v in obj.items()}
        if type(obj) is dict:
            return converted
        obj.update(converted)  # keep OrderedDict and its _metadata
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
