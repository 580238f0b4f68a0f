"""What the subcommands share: reading the config with ``--cfg-options``, and user errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.errors import CheckpointError, ConfigError

__all__ = ["UserError", "user_errors", "load_config", "add_cfg_options", "add_debug"]


class UserError(ConfigError):
    """A bad command-line argument (reported in one line, exit code 2)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: reported without a traceback."""
    return (ConfigError, CheckpointError)


def add_cfg_options(parser: Any) -> None:
    from kiln.config import DictAction

    parser.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                        help="override config keys, e.g. train_cfg.max_epochs=1 "
                             "optim_wrapper.optimizer.lr=0.01 (value syntax: 1, [1,2], \"(a,b)\", "
                             "a,b, None, True)")


def add_debug(parser: Any) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks of user errors")


def load_config(path: str, options: Mapping[str, Any] | None = None) -> Any:
    """``Config.fromfile(path)`` then ``merge_from_dict(options)``.

    The current directory is importable and ``import mmengine`` resolves to kiln (the project's
    own package, named in ``custom_imports``, usually imports ``mmengine``).
    """
    from kiln.compat import enable_mmengine_alias
    from kiln.config import Config

    enable_mmengine_alias(rename_logger=False)

    if not Path(path).is_file():
        raise UserError("CONFIG", f"no such config file: {path}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def default_work_dir(cfg: Any, config_path: str, work_dir: str | None) -> str:
    """``--work-dir``, else the config's ``work_dir``, else ``./work_dirs/<config name>`` (MMEngine's)."""
    if work_dir is not None:
        return work_dir
    if cfg.get("work_dir") is not None:
        return cfg["work_dir"]
    return os.path.join("./work_dirs", Path(config_path).stem)


def build_runner(cfg: Any) -> Any:
    """``Runner.from_cfg(cfg)``, or the config's ``runner_type`` from ``RUNNERS``."""
    if "runner_type" in cfg:
        from kiln.registry import RUNNERS

        return RUNNERS.build(cfg)
    from kiln.runner import Runner

    return Runner.from_cfg(cfg)
