"""BaseDataElement: the container models and metrics pass samples in (MMEngine's data element).

A data element holds two disjoint sets of named fields: *metainfo* (facts about the sample, e.g.
``img_shape``; deep-copied when set, never moved between devices) and *data* (tensors, arrays,
nested elements; moved by ``.to()``/``.cpu()``/``.numpy()``). Keeping them apart is what lets
``sample.cuda()`` move the predictions and leave the image path alone.

Example:
    >>> import torch
    >>> sample = BaseDataElement(metainfo=dict(img_shape=(4, 4)), score=torch.ones(2))
    >>> sample.metainfo_keys(), sample.keys()
    (['img_shape'], ['score'])
    >>> sample.numpy().score.tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["BaseDataElement"]

_PRIVATE = ("_metainfo_fields", "_data_fields")


class BaseDataElement:
    """A sample's metainfo and data fields (see the module docstring).

    Args:
        metainfo: Metainfo fields (deep-copied).
        **kwargs: Data fields.
    """

    def __init__(self, *, metainfo: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._metainfo_fields: set[str] = set()
        self._data_fields: set[str] = set()
        if metainfo is not None:
            self.set_metainfo(metainfo)
        if kwargs:
            self.set_data(kwargs)

    # -- setting fields ----------------------------------------------------------------------
    def set_metainfo(self, metainfo: Mapping[str, Any]) -> None:
        """Add or overwrite metainfo fields (deep copies: later edits of ``metainfo`` don't leak in)."""
        if not isinstance(metainfo, Mapping):
            raise TypeError(f"metainfo must be a dict, but got {type(metainfo).__name__}")
        for name, value in copy.deepcopy(dict(metainfo)).items():
            self.set_field(value, name, field_type="metainfo")

    def set_data(self, data: Mapping[str, Any]) -> None:
        """Add or overwrite data fields (``setattr`` for each, so subclass checks apply)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict, but got {type(data).__name__}")
        for name, value in data.items():
            setattr(self, name, value)

    def update(self, instance: BaseDataElement) -> None:
        """Copy ``instance``'s metainfo and data fields into this element."""
        if not isinstance(instance, BaseDataElement):
            raise TypeError(f"update() takes a data element, but got {type(instance).__name__}")
        self.set_metainfo(dict(instance.metainfo_items()))
        self.set_data(dict(instance.items()))

    def set_field(self, value: Any, name: str, dtype: type | tuple[type, ...] | None = None,
                  field_type: str = "data") -> None:
        """Set one field of ``field_type`` ('metainfo' or 'data'), optionally type-checked.

        A name may be a metainfo field or a data field, never both: the clash is an error.
        """
        if field_type not in ("metainfo", "data"):
            raise ValueError(f"field_type must be 'metainfo' or 'data', but got {field_type!r}")
        if dtype is not None and not isinstance(value, dtype):
            raise TypeError(f"{name} must be of type {dtype}, but got {type(value).__name__}")
        mine, other, other_type = ((self._metainfo_fields, self._data_fields, "data")
                                   if field_type == "metainfo"
                                   else (self._data_fields, self._metainfo_fields, "metainfo"))
        if name in other:
            raise AttributeError(f"Cannot set {name} to be a field of {field_type} because {name} "
                                 f"is already a {other_type} field")
        if field_type == "data":
            value = self._check_data_value(name, value)
        mine.add(name)
        object.__setattr__(self, name, value)  # a subclass property's setter runs here

    def _check_data_value(self, name: str, value: Any) -> Any:
        """Hook for subclasses: validate (and maybe convert) a data value before it is stored."""
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PRIVATE:
            if name in self.__dict__:
                raise AttributeError(f"{name} has been used as a private attribute, which is immutable")
            object.__setattr__(self, name, value)
        else:
            self.set_field(value, name, field_type="data")

    def __delattr__(self, name: str) -> None:
        if name in _PRIVATE:
            raise AttributeError(f"{name} has been used as a private attribute, which is immutable")
        object.__delattr__(self, name)
        self._metainfo_fields.discard(name)
        self._data_fields.discard(name)

    __delitem__ = __delattr__

    # -- reading fields ----------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def pop(self, *args: Any) -> Any:
        """``pop(name[, default])`` a metainfo or data field."""
        if not 1 <= len(args) <= 2:
            raise TypeError(f"pop expected 1 or 2 arguments, got {len(args)}")
        name = args[0]
        for fields in (self._metainfo_fields, self._data_fields):
            if name in fields:
                fields.remove(name)
                return self.__dict__.pop(name)
        if len(args) == 2:
            return args[1]
        raise KeyError(f"{name} is not contained in metainfo or data")

    def __contains__(self, item: str) -> bool:
        return item in self._data_fields or item in self._metainfo_fields

    def keys(self) -> list[str]:
        """Data field names. A subclass property ``x`` storing its value in ``_x`` lists as ``x``."""
        private = {"_" + key for key in self._data_fields
                   if isinstance(getattr(type(self), key, None), property)}
        return list(self._data_fields - private)

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> Iterator[tuple[str, Any]]:
        for k in self.keys():
            yield k, getattr(self, k)

    def metainfo_keys(self) -> list[str]:
        return list(self._metainfo_fields)

    def metainfo_values(self) -> list[Any]:
        return [getattr(self, k) for k in self.metainfo_keys()]

    def metainfo_items(self) -> Iterator[tuple[str, Any]]:
        for k in self.metainfo_keys():
            yield k, getattr(self, k)

    def all_keys(self) -> list[str]:
        return self.metainfo_keys() + self.keys()

    def all_values(self) -> list[Any]:
        return self.metainfo_values() + self.values()

    def all_items(self) -> Iterator[tuple[str, Any]]:
        yield from self.metainfo_items()
        yield from self.items()

    @property
    def metainfo(self) -> dict[str, Any]:
        """A new dict of the metainfo fields."""
        return dict(self.metainfo_items())

    # -- copies ------------------------------------------------------------------------------
    def new(self, *, metainfo: Mapping[str, Any] | None = None, **kwargs: Any) -> BaseDataElement:
        """An element of the same class: ``metainfo`` (else a copy of ours) and ``kwargs`` (else
        our data values — the same objects, not copies)."""
        element = self.__class__()
        element.set_metainfo(dict(self.metainfo_items()) if metainfo is None else metainfo)
        element.set_data(kwargs if kwargs else dict(self.items()))
        return element

    def clone(self) -> BaseDataElement:
        """A shallow copy: metainfo deep-copied, data values shared (as in MMEngine)."""
        element = self.__class__()
        element.set_metainfo(dict(self.metainfo_items()))
        element.set_data(dict(self.items()))
        return element

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() if isinstance(v, BaseDataElement) else v for k, v in self.all_items()}

    # -- device / type conversion: each returns a NEW element, other values kept as they are --
    def _map(self, fn: Callable[[Any], Any]) -> BaseDataElement:
        element = self.new()
        element.set_data({k: fn(v) for k, v in self.items()})
        return element

    def to(self, *args: Any, **kwargs: Any) -> BaseDataElement:
        """Apply ``.to(*args, **kwargs)`` to every data value that has it."""
        return self._map(lambda v: v.to(*args, **kwargs) if hasattr(v, "to") else v)

    def _tensor_method(self, method: str) -> BaseDataElement:
        return self._map(lambda v: getattr(v, method)()
                         if isinstance(v, (torch.Tensor, BaseDataElement)) else v)

    def cpu(self) -> BaseDataElement:
        return self._tensor_method("cpu")

    def cuda(self) -> BaseDataElement:
        return self._tensor_method("cuda")

    def npu(self) -> BaseDataElement:
        return self._tensor_method("npu")

    def mlu(self) -> BaseDataElement:
        return self._tensor_method("mlu")

    def musa(self) -> BaseDataElement:
        return self._tensor_method("musa")

    def detach(self) -> BaseDataElement:
        return self._tensor_method("detach")

    def numpy(self) -> BaseDataElement:
        """Tensors → ndarrays (``detach().cpu().numpy()``), nested elements too."""
        return self._map(lambda v: v.detach().cpu().numpy() if isinstance(v, torch.Tensor)
                         else v.numpy() if isinstance(v, BaseDataElement) else v)

    def to_tensor(self) -> BaseDataElement:
        """ndarrays → tensors, nested elements too."""
        return self._map(lambda v: torch.from_numpy(v) if isinstance(v, np.ndarray)
                         else v.to_tensor() if isinstance(v, BaseDataElement) else v)

    # -- repr --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        def block(title: str, items: Iterator[tuple[str, Any]]) -> str:
            lines = [f"{k}: {v!r}" for k, v in items]
            body = "\n".join("    " + line.replace("\n", "\n    ") for line in lines)
            return f"\n    {title}\n{body}\n" if lines else f"\n    {title}\n"

        return (f"<{type(self).__name__}(\n{block('META INFORMATION', self.metainfo_items())}"
                f"{block('DATA FIELDS', self.items())}) at {hex(id(self))}>")
