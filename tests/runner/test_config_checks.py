"""MMEngine-accepted keys are accepted (a warning when kiln ignores one); keys no code reads fail
at construction, before any work, with did-you-mean."""

import os

import pytest

from kiln.config import Config
from kiln.errors import ConfigError


def test_env_cfg_backend_is_ignored_with_a_warning_as_in_mmengine(make_runner, capsys):
    runner = make_runner(env_cfg=dict(cudnn_benchmark=False, backend="nccl",
                                      dist_cfg=dict(backend="gloo", timeout=None)))
    runner.train()
    out = capsys.readouterr().out
    assert "env_cfg.backend is ignored (by MMEngine too): env_cfg.dist_cfg.backend chooses the backend" in out


def test_dist_cfg_keys_are_checked_even_without_a_launcher(make_runner, tmp_path):
    with pytest.raises(ConfigError) as info:
        make_runner(env_cfg=dict(dist_cfg=dict(backend="nccl", timout=5)))
    assert str(info.value).startswith("env_cfg.dist_cfg.timout: not an argument of "
                                      "torch.distributed.init_process_group (did you mean 'timeout'?)")


def test_cfg_option_typo_in_a_loop_fails_before_any_work(make_runner, tmp_path):
    cfg = Config(dict(train_cfg=dict(by_epoch=True, max_epochs=2)))
    cfg.merge_from_dict({"train_cfg.max_epoch": 1})  # added, as MMEngine adds new keys
    work = tmp_path / "typo"
    with pytest.raises(ConfigError) as info:
        make_runner(train_cfg=cfg.train_cfg, work_dir=str(work))
    assert str(info.value).startswith("train_cfg: EpochBasedTrainLoop got unexpected argument(s) "
                                      "'max_epoch' (did you mean 'max_epochs'?)")
    assert not work.exists()  # the runner did not even create its work_dir


@pytest.mark.parametrize("key,cfg,message", [
    ("val_cfg", dict(fp61=True), "val_cfg: ValLoop got unexpected argument(s) 'fp61' (did you mean 'fp16'?)"),
    ("test_cfg", dict(type="ValLoop", fp16=True, x=1), "test_cfg: ValLoop got unexpected argument(s) 'x'"),
])
def test_eval_loop_arguments_are_checked_at_construction(make_runner, key, cfg, message):
    overrides = {key: cfg}
    if key == "test_cfg":
        overrides.update(test_dataloader=[], test_evaluator=dict(type="DumpResults", out_file_path="x.pkl"))
    with pytest.raises(ConfigError) as info:
        make_runner(**overrides)
    assert str(info.value).startswith(message)


def test_paramwise_keys_of_a_users_constructor_subclass_are_accepted(make_runner, capsys):
    from kiln.optim import DefaultOptimWrapperConstructor
    from kiln.registry import OPTIM_WRAPPER_CONSTRUCTORS

    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
    class H7Constructor(DefaultOptimWrapperConstructor):
        def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
            super().__init__(optim_wrapper_cfg, paramwise_cfg)
            self.head_lr = self.paramwise_cfg.get("head_lr", 1.0)  # a key of its own

        def __call__(self, model):
            wrapper = super().__call__(model)
            for group in wrapper.param_groups:
                group["lr"] *= self.head_lr
            return wrapper

    runner = make_runner(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1),
                                            constructor="H7Constructor",
                                            paramwise_cfg=dict(head_lr=0.5, norm_decay_mult=0.0)))
    runner.train()
    assert runner.optim_wrapper.get_lr()["lr"][0] == pytest.approx(0.05)
    assert "DefaultOptimWrapperConstructor ignores ['head_lr']" in capsys.readouterr().out
    OPTIM_WRAPPER_CONSTRUCTORS._module_dict.pop("H7Constructor")


def test_paramwise_typo_with_the_default_constructor_is_an_error(make_runner):
    runner = make_runner(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1),
                                            paramwise_cfg=dict(norm_decay_mul=0.0)))
    with pytest.raises(ConfigError) as info:
        runner.train()
    assert str(info.value).startswith("optim_wrapper.paramwise_cfg: unknown key(s) ['norm_decay_mul'] "
                                      "(did you mean 'norm_decay_mult'?)")


def test_config_is_dumped_to_work_dir_under_its_name(make_runner, tmp_path):
    path = tmp_path / "my_exp.py"
    path.write_text("note = 'x'\n")
    runner = make_runner(cfg=Config.fromfile(path))
    assert os.path.isfile(os.path.join(runner.work_dir, "my_exp.py"))
    assert not os.path.exists(os.path.join(runner.log_dir, "my_exp.py"))
