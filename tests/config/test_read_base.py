"""The pure-Python config style: ``with read_base(): from .base import *`` and ``type=SGD``."""

import textwrap

import pytest
import torch

from kiln.config import Config
from kiln.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "configs/_base_/default_runtime.py", """\
        from torch.optim import SGD

        default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
        optim_wrapper = dict(optimizer=dict(type=SGD, lr=0.1))
        train_cfg = dict(by_epoch=True, max_epochs=3)
        sizes = list(range(3))
        """)
    write(tmp_path / "configs/_base_/models/net.py", "model = dict(type='Net', depth=18)\n")
    return tmp_path


def test_read_base_imports_bases_as_config_values(project):
    cfg_file = write(project / "configs/x.py", """\
        from kiln.config import read_base
        from torch.optim import Adam

        with read_base():
            from ._base_.default_runtime import *
            from ._base_.models.net import model

        train_cfg.update(max_epochs=5)
        model.depth = 50
        optim_wrapper.optimizer = dict(type=Adam, lr=max(sizes) * 0.01)
        # builtins keep working (MMEngine's AST rewrite broke these: upstream issue #1523)
        total = sum(len(str(s)) for s in sizes)
        kinds = sorted({type(s).__name__ for s in sizes})
        is_list = isinstance(sizes, list)
        """)
    cfg = Config.fromfile(cfg_file)
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=5)
    assert cfg.model == dict(type="Net", depth=50)
    assert cfg.optim_wrapper.optimizer.type is torch.optim.Adam
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(0.02)
    assert (cfg.total, cfg.kinds, cfg.is_list) == (3, ["int"], True)
    assert cfg.default_hooks.checkpoint.interval == 1
    assert "Adam" not in cfg and "SGD" not in cfg and "read_base" not in cfg  # imports of code


def test_package_style_import_of_a_base_module(project):
    cfg_file = write(project / "configs/y.py", """\
        from kiln.config import read_base

        with read_base():
            from ._base_ import default_runtime

        epochs = default_runtime.train_cfg.max_epochs
        """)
    assert Config.fromfile(cfg_file).epochs == 3


def test_each_importer_gets_its_own_copy(project):
    write(project / "configs/a.py", """\
        from kiln.config import read_base
        with read_base():
            from ._base_.models.net import *
        model.depth = 101
        """)
    cfg_file = write(project / "configs/b.py", """\
        from kiln.config import read_base
        with read_base():
            from .a import model as a_model
            from ._base_.models.net import model
        """)
    cfg = Config.fromfile(cfg_file)
    assert cfg.a_model.depth == 101 and cfg.model.depth == 18


def test_pure_python_config_trains(project, tmp_path, make_runner):
    from kiln.runner import Runner

    cfg_file = write(project / "configs/run.py", """\
        from kiln.config import read_base
        with read_base():
            from ._base_.default_runtime import *
        train_cfg.max_epochs = 1
        default_hooks.checkpoint = None
        """)
    cfg = Config.fromfile(cfg_file)
    runner = make_runner(optim_wrapper=cfg.optim_wrapper, train_cfg=cfg.train_cfg,
                         default_hooks=cfg.default_hooks)
    assert isinstance(runner, Runner)
    runner.train()
    assert isinstance(runner.optim_wrapper.optimizer, torch.optim.SGD) and runner.epoch == 1


def test_missing_base_module_is_an_error(project):
    cfg_file = write(project / "configs/z.py", """\
        from kiln.config import read_base
        with read_base():
            from ._base_.nope import *
        """)
    with pytest.raises(ConfigError) as info:
        Config.fromfile(cfg_file)
    assert str(info.value) == (f"{cfg_file}: cannot import the base config '._base_.nope': "
                               f"no file {project / 'configs/_base_/nope.py'}")


def test_plain_import_inside_read_base_is_explained(project):
    cfg_file = write(project / "configs/z.py", """\
        from kiln.config import read_base
        with read_base():
            import os
        """)
    with pytest.raises(ConfigError, match=r"read_base\(\): write `from os import \*`"):
        Config.fromfile(cfg_file)
