"""Opt-in ``mmengine`` alias: run MMEngine scripts unmodified on kiln.

Two ways to opt in:

* ``kiln-mmengine train.py --args`` (or ``python -m kiln.compat train.py --args``) runs an
  unmodified script whose imports say ``mmengine``;
* ``import kiln.compat; kiln.compat.enable_mmengine_alias()`` before the first ``mmengine`` import.

``mmengine`` and every ``mmengine.<x>`` then resolve to the *same* module objects as ``kiln`` and
``kiln.<x>`` (so classes are identical and registries shared), and log lines print ``mmengine`` as
the seeds show. Nothing is installed under the name ``mmengine``: without opting in, ``import
mmengine`` finds the real package (or fails) as usual.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys

from kiln._moved import _SameModuleLoader

__all__ = ["enable_mmengine_alias", "disable_mmengine_alias", "main"]

ALIAS = "mmengine"
TARGET = "kiln"


def _target_name(fullname: str) -> str:
    return TARGET + fullname[len(ALIAS):]


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``mmengine[.x.y]`` to ``kiln[.x.y]``."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        try:
            module = importlib.import_module(_target_name(fullname))
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"kiln's mmengine alias has no {fullname!r} (looked for {_target_name(fullname)!r}); "
                f"kiln provides: {', '.join(_SUBPACKAGES)}", name=fullname) from exc
        is_package = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _SameModuleLoader(module), is_package=is_package)


_SUBPACKAGES = ("model", "registry", "logging", "optim", "evaluator", "runner", "hooks", "dist",
                "config", "checkpoint", "dataset", "visualization", "structures", "fileio",
                "utils", "device")
_finder = _AliasFinder()


def enable_mmengine_alias(rename_logger: bool = True) -> None:
    """Make ``import mmengine...`` resolve to kiln for the rest of this process.

    ``rename_logger`` makes log lines say ``mmengine`` (as the script's author expects); the
    ``kiln train/test`` commands keep ``kiln`` while still letting a project's package import
    ``mmengine``.
    """
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    if rename_logger:
        from kiln.logging import set_display_name

        set_display_name(ALIAS)


def disable_mmengine_alias() -> None:
    """Undo :func:`enable_mmengine_alias` (drops the ``mmengine`` entries it created)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        if getattr(sys.modules[name], "__name__", "").startswith(TARGET):
            del sys.modules[name]
    from kiln.logging import LOGGER_NAME, set_display_name

    set_display_name(LOGGER_NAME)


def main(argv: list[str] | None = None) -> None:
    """``kiln-mmengine script.py [args...]``: run an MMEngine script unmodified on kiln."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print("usage: kiln-mmengine SCRIPT.py [ARGS...]\n"
              "Runs SCRIPT with `import mmengine` resolving to kiln.")
        raise SystemExit(0 if args else 2)
    enable_mmengine_alias()
    sys.argv = args
    sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))  # as `python SCRIPT` does
    runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()
