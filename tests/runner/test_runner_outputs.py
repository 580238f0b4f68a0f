"""What a run leaves on disk and exposes: work dir layout, config dump, names, from_cfg."""

import os

import torch

from kiln.config import Config
from kiln.runner import Runner


def test_work_dir_layout(make_runner, tmp_path):
    runner = make_runner(work_dir=str(tmp_path / "wd"), default_hooks=None,
                         cfg=dict(note="hello"), experiment_name="exp")
    runner.train()
    log_dir = runner.log_dir
    assert os.path.dirname(log_dir) == str(tmp_path / "wd")
    assert os.path.basename(log_dir) == runner.timestamp
    log_file = os.path.join(log_dir, f"{runner.timestamp}.log")
    text = open(log_file).read()
    assert "System environment:" in text and "Runtime environment:" in text and "seed: 0" in text
    assert "Config:\nnote = 'hello'" in text
    assert "Epoch(train)" in text
    assert os.path.isdir(os.path.join(log_dir, "vis_data"))
    assert Config.fromfile(os.path.join(runner.work_dir, f"{runner.timestamp}.py")).note == "hello"
    assert runner.experiment_name == f"exp_{runner.timestamp}"
    assert os.path.isfile(os.path.join(runner.work_dir, "epoch_2.pth"))


def test_model_on_device_and_counters(make_runner):
    from kiln.dist import get_device

    runner = make_runner()
    assert next(runner.model.parameters()).device.type == get_device().type
    assert runner.epoch == 0 and runner.iter == 0 and runner.max_epochs == 2 and runner.max_iters == 12
    assert runner.rank == 0 and runner.world_size == 1 and runner.distributed is False
    assert runner.seed == 0


def test_randomness_seed_is_applied(make_runner):
    make_runner(randomness=dict(seed=123))
    a = torch.rand(3)
    make_runner(randomness=dict(seed=123))
    assert torch.equal(a, torch.rand(3))


def test_random_seed_when_none(make_runner):
    runner = make_runner(randomness=dict(seed=None))
    assert isinstance(runner.seed, int)


def test_from_cfg_with_config_file(tmp_path, toy_model_cls, toy_metric_cls, counting_dataset_cls):
    from kiln.registry import DATASETS, MODELS

    MODELS.register_module(name="RunnerTestToyModel", module=toy_model_cls, force=True)
    DATASETS.register_module(name="RunnerTestDataset", module=counting_dataset_cls, force=True)
    path = tmp_path / "toy_cfg.py"
    path.write_text(f"""
model = dict(type='RunnerTestToyModel')
work_dir = {str(tmp_path / 'wd')!r}
train_dataloader = dict(dataset=dict(type='RunnerTestDataset', n=8), batch_size=4,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        collate_fn=dict(type='default_collate'))
train_cfg = dict(by_epoch=False, max_iters=4, val_interval=2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=2)]
val_dataloader = train_dataloader
val_cfg = dict()
val_evaluator = dict(type='{toy_metric_cls.__name__}')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False))
randomness = dict(seed=1)
""")
    from kiln.registry import METRICS

    METRICS.register_module(module=toy_metric_cls, force=True)
    runner = Runner.from_cfg(Config.fromfile(path))
    runner.train()
    assert runner.iter == 4
    assert runner.experiment_name == f"toy_cfg_{runner.timestamp}"
    assert os.path.isfile(os.path.join(runner.work_dir, "toy_cfg.py"))  # as MMEngine: work_dir/<name>
    assert runner.optim_wrapper.get_lr()["lr"][0] == 0.1  # LinearLR warm-up finished at iter 2


def test_auto_scale_lr(make_runner, capsys):
    runner = make_runner(auto_scale_lr=dict(enable=True, base_batch_size=8),
                         train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()
    assert runner.optim_wrapper.param_groups[0]["lr"] == 0.05  # 0.1 * 4 / 8
    assert "Scaling the original LR by 0.5" in capsys.readouterr().out


def test_iteration_based_run_logs_iter_lines(make_runner, capsys):
    make_runner(train_cfg=dict(by_epoch=False, max_iters=10, val_interval=100)).train()
    out = capsys.readouterr().out
    assert "Iter(train) [10/10]" in out and "Epoch(train)" not in out


def test_model_config_gets_the_runner_data_preprocessor(make_runner, toy_model_cls):
    from kiln.registry import MODELS

    class WithPreprocessor(toy_model_cls):
        def __init__(self, data_preprocessor=None):
            super().__init__()
            self.given = data_preprocessor

    MODELS.register_module(name="RunnerTestWithPreprocessor", module=WithPreprocessor, force=True)
    preprocessor = dict(type="BaseDataPreprocessor")
    runner = make_runner(model=dict(type="RunnerTestWithPreprocessor"), data_preprocessor=preprocessor)
    assert runner.model.given == preprocessor
    runner = make_runner(model=dict(type="RunnerTestWithPreprocessor", data_preprocessor=None),
                         data_preprocessor=preprocessor)
    assert runner.model.given is None  # the model config's own entry wins
