"""kiln's import graph, read statically, has no cycles and no import that goes up the layering.

Every ``kiln/**/*.py`` is parsed with ``ast`` and every import counted, including the ones inside
functions (a lazy import still ties two modules together) and ``importlib.import_module('kiln...')``
with a constant name. Not counted: ``if TYPE_CHECKING:`` blocks, a package ``__init__``'s imports of
its own submodules (its lazy export map), and registries' ``locations`` strings (lookups that
import built-ins on a miss, not dependencies of the registry).

``from kiln.dist import get_rank`` is an edge to the submodule that defines ``get_rank`` (found in
the package's ``attach`` map or eager imports), so a cycle cannot hide behind a lazy package.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kiln"

# The layering of docs/design.md, top to bottom: a module may import its own layer or lower ones.
# Sideways imports inside a layer are allowed (the cycle check still applies to them).
LAYERS: dict[str, int] = {
    # entry points: the package root and the programs; nothing inside kiln imports them
    "kiln": 7, "demo": 7, "compat": 7, "cli": 7, "__main__": 7,
    "runner": 6,                                                      # control flow, the top
    "hooks": 5, "optim": 5, "evaluator": 5, "visualization": 5, "analysis": 5,
    "model": 4,
    "dataset": 3,
    "checkpoint": 2,
    # the bottom layer
    "registry": 1, "logging": 1, "dist": 1, "utils": 1, "device": 1, "config": 1, "fileio": 1,
    "structures": 1, "errors": 1, "_lazy": 1, "_moved": 1, "version": 1,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def layer(name: str) -> int:
    top = name.split(".")[1] if "." in name else "kiln"
    if top not in LAYERS:
        raise AssertionError(f"{name}: kiln.{top} has no layer in tests/test_layering.py's LAYERS; "
                             "add it where docs/design.md puts it")
    return LAYERS[top]


@cache
def parse(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(), filename=str(modules()[name]))


def _dict_exports(package: str, node: ast.expr) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and isinstance(value, (ast.List, ast.Tuple)):
                target = key.value if key.value.startswith("kiln") else f"{package}.{key.value}"
                for elt in value.elts:
                    if isinstance(elt, ast.Constant):
                        out[elt.value] = target
    return out


@cache
def exports(package: str) -> dict[str, str]:
    """name → defining module for a package: its ``attach`` map(s) and eager imports."""
    tree, out, dicts = parse(package), {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
                    dicts[target.id] = node.value
                elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                      and isinstance(target.slice, ast.Constant) and isinstance(node.value, ast.List)):
                    out.update(_dict_exports(package, ast.Dict([target.slice], [node.value])))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "attach" and len(node.args) > 1:
            arg = node.args[1]
            out.update(_dict_exports(package, dicts.get(arg.id) if isinstance(arg, ast.Name) else arg))
        if isinstance(node, ast.ImportFrom):
            source = resolve_from(package, node)
            for alias in node.names:
                if source not in modules():
                    continue
                names = _all_names(source) if alias.name == "*" else [alias.asname or alias.name]
                for name in names:
                    out.setdefault(name, source)
    return out


def _all_names(module: str) -> list[str]:
    """A module's literal ``__all__`` (what ``from module import *`` binds)."""
    for node in parse(module).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
                and isinstance(node.value, (ast.List, ast.Tuple))):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return []


def resolve_from(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package(importer) else base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def resolve_name(module: str, name: str, depth: int = 0) -> str:
    """The kiln module that ``from module import name`` depends on."""
    if f"{module}.{name}" in modules():
        return f"{module}.{name}"
    if module in modules() and is_package(module) and depth < 10:
        target = exports(module).get(name)
        if target and target != module and target in modules():
            return resolve_name(target, name, depth + 1) if is_package(target) else target
    return module


def longest_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield stmt
                yield from _walk(stmt)
            continue
        yield child
        yield from _walk(child)


def _package_aliases(importer: str, nodes: list[ast.AST]) -> dict[str, str]:
    """Local names bound to a kiln *package* (``from kiln import dist``; ``import kiln.dist as d``)."""
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            source = resolve_from(importer, node)
            for a in node.names:
                target = resolve_name(source, a.name) if source.startswith("kiln") else ""
                if target in modules() and is_package(target) and target == f"{source}.{a.name}":
                    aliases[a.asname or a.name] = target
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in modules() and is_package(a.name):
                    aliases[a.asname] = a.name
    return aliases


@cache
def edges(importer: str) -> dict[str, int]:
    """{imported kiln module: line} for one module.

    A name bound to a lazy package (``from kiln import dist``) depends on the submodules whose
    names it uses (``dist.get_rank`` → ``kiln.dist.utils``); without such uses, on the package.
    """
    nodes = list(_walk(parse(importer)))
    aliases = _package_aliases(importer, nodes)
    used = {(n.value.id, n.attr): n.lineno for n in nodes
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases}
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target == importer or target not in modules():
            return
        if is_package(importer) and target.startswith(importer + "."):
            return  # a package's own submodules (its export map)
        found.setdefault(target, line)

    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [m for a in node.names if (m := longest_module(a.name))]
        elif isinstance(node, ast.ImportFrom):
            source = resolve_from(importer, node)
            if source.split(".")[0] == "kiln":
                targets = [resolve_name(source, a.name) for a in node.names if a.name != "*"] or \
                    [m for m in [longest_module(source)] if m]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)
              and str(node.args[0].value).startswith("kiln")):
            targets = [m for m in [longest_module(node.args[0].value)] if m]
        for target in targets:
            uses = [(attr, line) for (alias, attr), line in used.items() if aliases.get(alias) == target]
            if target in aliases.values() and uses:
                for attr, line in uses:
                    add(resolve_name(target, attr), line)
            else:
                add(target, node.lineno)
    return found


def where(importer: str, target: str) -> str:
    path = modules()[importer].relative_to(ROOT.parent)
    return f"{path}:{edges(importer)[target]} imports {target}"


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_import_goes_up_the_layering():
    upward = [f"{where(m, t)} (layer {layer(m)} -> {layer(t)})"
              for m in modules() for t in edges(m) if layer(t) > layer(m)]
    assert not upward, "imports that go up the layering of docs/design.md:\n" + "\n".join(upward)


def find_cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in modules():
        if name not in index:
            visit(name)
    return cycles


def test_no_import_cycles():
    cycles = find_cycles()
    report = []
    for component in cycles:
        members = set(component)
        report.append(" <-> ".join(component) + ":\n    " + "\n    ".join(
            where(m, t) for m in component for t in edges(m) if t in members))
    assert not cycles, "import cycles:\n" + "\n".join(report)


@pytest.mark.parametrize("source, expected", [
    ("from kiln.dist import get_rank", "kiln.dist.utils"),
    ("from kiln import dist", "kiln.dist"),
    ("from kiln.dataset import BaseDataset", "kiln.dataset.base_dataset"),
    ("from kiln.registry import MODELS", "kiln.registry.root"),           # through a star import
])
def test_the_walker_resolves_names_to_their_defining_module(source, expected):
    node = ast.parse(source).body[0]
    assert resolve_name(node.module, node.names[0].name) == expected


def test_the_walker_sees_lazy_imports_and_skips_type_checking_blocks():
    tree = ast.parse("def f():\n    from kiln.runner import Runner\n"
                     "if TYPE_CHECKING:\n    from kiln.model import BaseModel\n")
    seen = [n.module for n in _walk(tree) if isinstance(n, ast.ImportFrom)]
    assert seen == ["kiln.runner"]


def test_the_walker_finds_the_real_edges():
    assert "kiln.device.utils" in edges("kiln.dist.utils")          # from kiln import device (lazy pkg)
    assert "kiln.dist.dist" in edges("kiln.dist.collect")            # from kiln.dist.dist import ...
    assert "kiln.dataset.transforms" in edges("kiln.dataset.base_dataset")
    assert sum(len(edges(m)) for m in modules()) > 150
