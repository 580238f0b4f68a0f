"""A restricted unpickler: plain data only, unless the caller explicitly opts in.

``pickle.load`` runs whatever callables the file names, so a downloaded ``results.pkl`` could
execute code. This unpickler resolves only an allow-list of globals: builtin containers, the
``collections`` types, numpy arrays/dtypes/scalars, torch tensors (their storage bytes are read
with ``torch.load(weights_only=True)``), torch dtypes/devices/sizes, and kiln's data elements (also
under their ``mmengine.structures`` names, so MMEngine result pickles load). Anything else raises
:class:`UnsafePickleError` naming the global and the opt-in.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import IO, Any

__all__ = ["UnsafePickleError", "SafeUnpickler", "safe_pickle_load"]

_BUILTINS = {"set", "frozenset", "slice", "range", "complex", "bytearray", "bytes", "list", "dict",
             "tuple", "int", "float", "str", "bool"}
_ALLOWED = {
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "deque"),
    ("collections", "Counter"), ("_codecs", "encode"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"), ("torch", "device"),
}
_STRUCTURES = ("kiln.structures", "mmengine.structures")


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (it could run code when loaded)."""


def _load_storage_bytes(data: bytes) -> Any:
    """torch's own ``_load_from_bytes`` uses ``weights_only=False``; this one does not."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` resolves only the allow-list (module docstring)."""

    def __init__(self, file: IO[bytes], *, source: str = "<pickle>") -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return super().find_class("builtins", name)
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _load_storage_bytes
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        if module == "torch" and _is_torch_dtype(name):
            return super().find_class(module, name)
        if module.startswith(_STRUCTURES):
            structures = importlib.import_module("kiln.structures")
            if name in structures.__all__:
                return getattr(structures, name)
        raise UnsafePickleError(
            f"refused to unpickle {self._source}: it references {module}.{name}, which is not plain "
            "data and could run code when loaded. If you trust the file, load it with "
            "allow_unsafe=True.")


def _is_torch_dtype(name: str) -> bool:
    import torch

    return isinstance(getattr(torch, name, None), torch.dtype)


def safe_pickle_load(file: IO[bytes], *, allow_unsafe: bool = False, source: str = "<pickle>",
                     **kwargs: Any) -> Any:
    """Unpickle ``file`` with :class:`SafeUnpickler` (or plain ``pickle.load`` if ``allow_unsafe``)."""
    if allow_unsafe:
        return pickle.load(file, **kwargs)
    if kwargs:
        raise TypeError(f"safe pickle loading takes no extra arguments, got {sorted(kwargs)}")
    return SafeUnpickler(file, source=source).load()
