"""Format handlers for :func:`kiln.fileio.load` / :func:`dump`: json, yaml, pickle.

Each handler reads from / writes to an open file object; the text formats work on ``str`` and
pickle on ``bytes``. YAML is read with PyYAML's *safe* loader (MMEngine uses the full loader, which
builds arbitrary Python objects from tags) and written with a safe dumper that writes tuples as
lists.
"""

from __future__ import annotations

import json
import pickle
from typing import IO, Any

import numpy as np
import yaml

from kiln.fileio.safe_pickle import safe_pickle_load

__all__ = ["HANDLERS", "Handler"]


def _json_default(obj: Any) -> Any:
    """What ``json`` cannot encode natively: sets/ranges/arrays → lists, numpy scalars → numbers."""
    if isinstance(obj, (set, range)):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj)} is unsupported for json dump")


class _SafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


_SafeDumper.add_representer(tuple, lambda dumper, data: dumper.represent_list(list(data)))
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Handler:
    """Load/dump one format. ``binary`` says whether its files are opened in bytes mode."""

    binary = False

    def load(self, file: IO, **kwargs: Any) -> Any:
        raise NotImplementedError

    def dump(self, obj: Any, file: IO, **kwargs: Any) -> None:
        raise NotImplementedError

    def dumps(self, obj: Any, **kwargs: Any) -> str | bytes:
        raise NotImplementedError


class JsonHandler(Handler):
    def load(self, file: IO, **kwargs: Any) -> Any:
        return json.load(file, **kwargs)

    def dump(self, obj: Any, file: IO, **kwargs: Any) -> None:
        kwargs.setdefault("default", _json_default)
        json.dump(obj, file, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", _json_default)
        return json.dumps(obj, **kwargs)


class YamlHandler(Handler):
    def load(self, file: IO, **kwargs: Any) -> Any:
        kwargs.setdefault("Loader", _SafeLoader)
        return yaml.load(file, **kwargs)

    def dump(self, obj: Any, file: IO, **kwargs: Any) -> None:
        kwargs.setdefault("Dumper", _SafeDumper)
        yaml.dump(obj, file, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("Dumper", _SafeDumper)
        return yaml.dump(obj, **kwargs)


class PickleHandler(Handler):
    binary = True

    def load(self, file: IO, **kwargs: Any) -> Any:
        source = repr(getattr(file, "name", "<pickle>"))
        return safe_pickle_load(file, source=source, **kwargs)

    def dump(self, obj: Any, file: IO, **kwargs: Any) -> None:
        kwargs.setdefault("protocol", 2)
        pickle.dump(obj, file, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> bytes:
        kwargs.setdefault("protocol", 2)
        return pickle.dumps(obj, **kwargs)


HANDLERS: dict[str, Handler] = {"json": JsonHandler(), "yaml": YamlHandler(), "yml": YamlHandler(),
                                "pickle": PickleHandler(), "pkl": PickleHandler()}
