"""Executing Python configs, including MMEngine's pure-Python style.

A Python config runs as ordinary Python: builtins, comprehensions, ``import`` of real modules and
classes as values (``optimizer=dict(type=SGD)``) all work as they do anywhere (the user's code is
never rewritten — MMEngine's AST rewrite broke builtins, upstream issue #1523). The only change
is the ``__import__`` the file sees: inside ``with read_base():`` — and for relative imports
anywhere — an import loads another *config file* (fully, with its own bases) and hands its keys
out as a module, so ``from .base.default_runtime import *`` binds ``default_hooks``,
``env_cfg``... as :class:`~kiln.config.ConfigDict` values the file can then modify.

Example config::

    from kiln.config import read_base
    from torch.optim import SGD

    with read_base():
        from .base.default_runtime import *

    optim_wrapper = dict(optimizer=dict(type=SGD, lr=0.01))
    train_cfg.update(max_epochs=5)
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib.util
import threading
import types
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

from kiln.errors import ConfigError

__all__ = ["read_base", "exec_python_config"]

_state = threading.local()
LoadFn = Callable[[Path], dict]


def _depth() -> int:
    return getattr(_state, "depth", 0)


@contextlib.contextmanager
def read_base() -> Generator[None, None, None]:
    """Within the block, imports load base *config files* (see the module docstring)."""
    _state.depth = _depth() + 1
    try:
        yield
    finally:
        _state.depth = _depth() - 1


def exec_python_config(text: str, path: Path, load: LoadFn) -> dict[str, Any]:
    """Run the config ``text`` of file ``path``; return its top-level names that are config keys.

    Left out: dunder and ``_private`` names (except ``_base_``), modules, and names bound by
    imports of real code (``from torch.optim import SGD``); kept: names imported from configs.
    A syntax error or an exception raised by the file is a :class:`ConfigError` naming the file
    and the line.
    """
    try:
        code = compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}", f"invalid syntax: {exc.msg}") from exc
    namespace: dict[str, Any] = {
        "__file__": str(path),
        "__name__": f"kiln_config_{path.stem}",
        "__builtins__": {**vars(builtins), "__import__": _config_import(path, load)},
    }
    saved, _state.depth = _depth(), 0  # a base loaded from inside read_base starts outside it
    try:
        exec(code, namespace)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path}:{_line_in(exc, path)}", f"{type(exc).__name__}: {exc}") from exc
    finally:
        _state.depth = saved
    dropped = _code_import_names(ast.parse(text))
    return {k: v for k, v in namespace.items()
            if not k.startswith("__") and (not k.startswith("_") or k == "_base_")
            and not isinstance(v, types.ModuleType) and k not in dropped}


def _line_in(exc: BaseException, path: Path) -> int | str:
    line: int | str = "?"
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _is_read_base(node: ast.With) -> bool:
    for item in node.items:
        call = item.context_expr
        func = call.func if isinstance(call, ast.Call) else None
        if (isinstance(func, ast.Name) and func.id == "read_base") or \
                (isinstance(func, ast.Attribute) and func.attr == "read_base"):
            return True
    return False


def _code_import_names(tree: ast.Module) -> set[str]:
    """Names bound by top-level imports of real modules (not config imports), never reassigned."""
    imported: set[str] = set()
    assigned: set[str] = set()

    def visit(body: Iterable[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.With) and _is_read_base(node):
                continue
            if isinstance(node, ast.Import):
                imported.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.update(a.asname or a.name for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assigned.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            for field in ("body", "orelse", "finalbody"):
                visit(getattr(node, field, []) if not isinstance(node, (ast.FunctionDef, ast.ClassDef,
                                                                       ast.AsyncFunctionDef)) else [])
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return imported - assigned


def _config_import(path: Path, load: LoadFn) -> Callable[..., Any]:
    real_import = builtins.__import__

    def __import__(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A001
        if level == 0 and _depth() == 0:
            return real_import(name, globals, locals, fromlist, level)
        return _import_config(name, tuple(fromlist or ()), level, path, load)

    return __import__


def _find(name: str, level: int, path: Path) -> Path:
    if level > 0:
        root = path.parent
        for _ in range(level - 1):
            root = root.parent
        return root.joinpath(*name.split(".")) if name else root
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ConfigError(f"{path}", f"read_base(): cannot find the config module {name!r}")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin).with_suffix("")


def _import_config(name: str, fromlist: tuple[str, ...], level: int, path: Path, load: LoadFn) -> Any:
    where = "." * level + name
    if not fromlist:
        raise ConfigError(f"{path}", f"read_base(): write `from {where} import *` (or import "
                                     f"names) to read a base config, not `import {where}`")
    target = _find(name, level, path)
    saved, _state.depth = _depth(), 0
    try:
        if target.with_suffix(".py").is_file():
            return _module(where, target.with_suffix(".py"), load)
        if target.is_dir():
            package = types.ModuleType(where)
            for item in fromlist:
                file = target / f"{item}.py"
                if item != "*" and file.is_file():
                    setattr(package, item, _module(f"{where}.{item}", file, load))
            return package
    finally:
        _state.depth = saved
    raise ConfigError(f"{path}", f"cannot import the base config {where!r}: "
                                 f"no file {target.with_suffix('.py')}")


def _module(name: str, file: Path, load: LoadFn) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(file)
    module.__dict__.update(dict(load(file)))  # ``load`` hands out ConfigDict values
    return module
