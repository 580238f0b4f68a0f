"""Bad Runner arguments fail at construction with one message naming the config key."""

import pytest
from torch.utils.data import DataLoader

from kiln.errors import ConfigError


def test_train_dataloader_without_optim_wrapper(make_runner):
    with pytest.raises(ConfigError, match=r"^optim_wrapper: training needs train_dataloader, train_cfg "
                                          r"and optim_wrapper together .* without optim_wrapper"):
        make_runner(optim_wrapper=None)


def test_val_dataloader_without_val_cfg_names_both_missing(make_runner):
    with pytest.raises(ConfigError, match=r"^val_cfg, val_evaluator: validation needs .* without "
                                          r"val_cfg and val_evaluator"):
        make_runner(val_cfg=None, val_evaluator=None)


def test_test_evaluator_alone(make_runner, toy_metric_cls):
    with pytest.raises(ConfigError, match=r"^test_dataloader, test_cfg: testing needs"):
        make_runner(test_evaluator=dict(type=toy_metric_cls))


def test_param_scheduler_without_optim_wrapper(make_runner):
    with pytest.raises(ConfigError, match="^param_scheduler: .*optim_wrapper is None"):
        make_runner(train_dataloader=None, train_cfg=None, optim_wrapper=None,
                    param_scheduler=dict(type="MultiStepLR", milestones=[1]))


def test_scheduler_without_type(make_runner):
    with pytest.raises(ConfigError, match=r"^param_scheduler\[1\]: a scheduler config needs a 'type'"):
        make_runner(param_scheduler=[dict(type="MultiStepLR", milestones=[1]), dict(milestones=[2])])


@pytest.mark.parametrize("train_cfg,match", [
    (dict(max_epochs=2), "needs by_epoch=True"),
    (dict(type="EpochBasedTrainLoop", by_epoch=True, max_epochs=2), "either a loop `type` or `by_epoch`"),
    (dict(by_epoch=True, max_epoch=2), r"unexpected argument\(s\) 'max_epoch' \(did you mean 'max_epochs'\?\)"),
    (dict(by_epoch=True, max_epochs=0), r"train_cfg.max_epochs: expected a positive integer"),
    (dict(by_epoch=False, max_iters=2.5), r"train_cfg.max_iters: expected a positive integer"),
    (dict(by_epoch=True, max_epochs=2, val_interval=0), r"train_cfg.val_interval"),
])
def test_bad_train_cfg(make_runner, train_cfg, match):
    with pytest.raises(ConfigError, match=match):  # at construction (argument names) or train()
        make_runner(train_cfg=train_cfg).train()


def test_unknown_randomness_and_env_keys(make_runner):
    with pytest.raises(ConfigError, match=r"^randomness: unknown key\(s\) \['sed'\]"):
        make_runner(randomness=dict(sed=1))
    with pytest.raises(ConfigError, match=r"^env_cfg.cudnn: unknown key \(did you mean 'cudnn_benchmark'\?\)"):
        make_runner(env_cfg=dict(cudnn=True))
    with pytest.raises(ConfigError, match=r"^launcher: expected one of"):
        make_runner(launcher="slurmm")


def test_pytorch_launcher_without_env_vars(make_runner, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="launcher='pytorch' needs the environment variables RANK"):
        make_runner(launcher="pytorch")


def test_dataloader_dict_errors(make_runner, counting_dataset_cls):
    runner = make_runner(train_dataloader=dict(batch_size=2))
    with pytest.raises(ConfigError, match="^dataloader: a dataloader dict needs a 'dataset'"):
        runner.train()
    runner = make_runner(train_dataloader=dict(dataset=counting_dataset_cls(), sampler=dict(type="RandomSampler")))
    with pytest.raises(ConfigError, match=r"sampler.type: 'RandomSampler' is not registered"):
        runner.train()


def test_model_without_train_step(make_runner):
    import torch

    with pytest.raises(TypeError, match="Linear has no train_step"):
        make_runner(model=torch.nn.Linear(4, 2)).train()


def test_val_without_val_loop(make_runner):
    runner = make_runner(val_dataloader=None, val_cfg=None, val_evaluator=None)
    with pytest.raises(RuntimeError, match=r"Runner.val\(\) needs val_dataloader, val_cfg and val_evaluator"):
        runner.val()


def test_bad_evaluator(make_runner, counting_dataset_cls):
    runner = make_runner(val_dataloader=DataLoader(counting_dataset_cls(4)), val_evaluator=42)
    with pytest.raises(ConfigError, match="^evaluator: expected an Evaluator"):
        runner.val()
