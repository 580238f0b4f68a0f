"""``custom_imports``: a project's own optimizer, model and hook, registered on import."""

import sys
import textwrap

import pytest

from kiln.config import Config
from kiln.errors import ConfigError

PACKAGE = {
    "h7proj/__init__.py": "",
    "h7proj/models.py": """\
        import torch.nn.functional as F
        from torch import nn
        from kiln.model import BaseModel
        from kiln.registry import MODELS

        @MODELS.register_module()
        class H7Net(BaseModel):
            def __init__(self, width=4):
                super().__init__()
                self.fc = nn.Linear(width, 2)

            def forward(self, x, y, mode='tensor'):
                out = self.fc(x)
                if mode == 'loss':
                    return {'loss': F.cross_entropy(out, y)}
                return out, y
        """,
    "h7proj/optim.py": """\
        import torch
        from kiln.registry import OPTIMIZERS

        @OPTIMIZERS.register_module()
        class H7SGD(torch.optim.SGD):
            steps = 0

            def step(self, closure=None):
                type(self).steps += 1
                return super().step(closure)
        """,
    "h7proj/hooks.py": """\
        from kiln.hooks import Hook
        from kiln.registry import HOOKS

        @HOOKS.register_module()
        class H7Hook(Hook):
            seen = []

            def __init__(self, tag):
                self.tag = tag

            def after_train_epoch(self, runner):
                type(self).seen.append((self.tag, runner.epoch))
        """,
}

CONFIG = """\
    custom_imports = dict(imports=['h7proj.models', 'h7proj.optim', 'h7proj.hooks'],
                          allow_failed_imports=False)
    model = dict(type='H7Net', width=4)
    optim_wrapper = dict(optimizer=dict(type='H7SGD', lr=0.1))
    train_cfg = dict(by_epoch=True, max_epochs=2)
    custom_hooks = [dict(type='H7Hook', tag='mine')]
    default_hooks = dict(checkpoint=None)
    randomness = dict(seed=0)
    """


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name, text in PACKAGE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/x.py").write_text(textwrap.dedent(CONFIG))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n == "h7proj" or n.startswith("h7proj.")]:
        del sys.modules[name]
    from kiln.registry import HOOKS, MODELS, OPTIMIZERS

    for registry, key in ((MODELS, "H7Net"), (OPTIMIZERS, "H7SGD"), (HOOKS, "H7Hook")):
        registry._module_dict.pop(key, None)


def _train(cfg, tmp_path, counting_dataset_cls):
    from torch.utils.data import DataLoader

    from kiln.runner import Runner

    cfg["work_dir"] = str(tmp_path / "work")
    cfg["train_dataloader"] = DataLoader(counting_dataset_cls(8), batch_size=4)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_fromfile_imports_them_before_anything_is_built(project, tmp_path, counting_dataset_cls):
    assert "h7proj.models" not in sys.modules
    cfg = Config.fromfile(project / "configs/x.py")
    assert {"h7proj.models", "h7proj.optim", "h7proj.hooks"} <= set(sys.modules)
    runner = _train(cfg, tmp_path, counting_dataset_cls)
    assert type(runner.model).__name__ == "H7Net"
    assert type(runner.optim_wrapper.optimizer).__name__ == "H7SGD"
    assert sys.modules["h7proj.optim"].H7SGD.steps == 4  # 2 epochs x 2 batches, stepped by kiln
    assert sys.modules["h7proj.hooks"].H7Hook.seen == [("mine", 0), ("mine", 1)]  # epoch is bumped after the hook, as in MMEngine


def test_runner_from_cfg_imports_them_too(project, tmp_path, counting_dataset_cls):
    namespace: dict = {}
    exec(textwrap.dedent(CONFIG), namespace)  # a config dict that never went through fromfile
    cfg = {k: v for k, v in namespace.items() if not k.startswith("__")}
    runner = _train(cfg, tmp_path, counting_dataset_cls)
    assert type(runner.model).__name__ == "H7Net"


def test_failed_import_is_an_error_unless_allowed(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("custom_imports = dict(imports=['h7_no_such_pkg.models'])\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    assert str(info.value) == (f"{path}: custom_imports.imports: Failed to import h7_no_such_pkg.models "
                               "(custom_imports): No module named 'h7_no_such_pkg'; is its package "
                               "installed or on sys.path?")
    path.write_text("custom_imports = dict(imports='h7_no_such_pkg', allow_failed_imports=True)\n")
    with pytest.warns(UserWarning, match="h7_no_such_pkg failed to import and is ignored"):
        assert Config.fromfile(path).custom_imports.allow_failed_imports is True


def test_bad_custom_imports_shape(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("custom_imports = dict(modules=['os'])\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    assert str(info.value) == (f"{path}: custom_imports: unknown key(s) ['modules']; expected imports, "
                               "allow_failed_imports")
