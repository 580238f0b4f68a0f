"""File I/O (MMEngine's ``mmengine.fileio``): ``load``/``dump`` json, yaml and pickle by suffix,
local-file helpers; pickles load through a restricted unpickler unless ``allow_unsafe=True``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "io": ["load", "dump", "get_local_path", "list_from_file", "dict_from_file"],
    "backend": ["get", "get_text", "put", "put_text", "exists", "isfile", "isdir", "join_path",
                "remove"],
    "safe_pickle": ["UnsafePickleError"],
})
