"""Names MMEngine users import (OptimWrapperDict, analysis, runner helpers) exist in kiln and
through the ``mmengine`` alias, and are the same objects."""

import importlib

import pytest
import torch

NAMES = [
    ("optim", "OptimWrapperDict"), ("optim", "MultiOptimWrapperConstructor"),
    ("optim.scheduler", "_ParamScheduler"), ("optim", "_ParamScheduler"),
    ("runner", "autocast"), ("runner", "LogProcessor"), ("runner", "get_state_dict"),
    ("runner", "weights_to_cpu"), ("runner", "CheckpointLoader"), ("runner", "find_latest_checkpoint"),
    ("analysis", "get_model_complexity_info"),
]


@pytest.fixture(scope="module")
def alias():
    from kiln.compat import enable_mmengine_alias

    enable_mmengine_alias()


@pytest.mark.parametrize("package, name", NAMES)
def test_name_imports_from_kiln_and_mmengine(alias, package, name):
    ours = getattr(importlib.import_module(f"kiln.{package}"), name)
    assert getattr(importlib.import_module(f"mmengine.{package}"), name) is ours


def test_param_scheduler_alias_is_the_base_class():
    from kiln.optim.scheduler import MultiStepLR, ParamScheduler, _ParamScheduler

    assert _ParamScheduler is ParamScheduler and issubclass(MultiStepLR, _ParamScheduler)


def test_runner_helpers(tmp_path):
    from kiln.runner import (
        CheckpointLoader,
        autocast,
        find_latest_checkpoint,
        get_state_dict,
        weights_to_cpu,
    )

    net = torch.nn.Linear(2, 2)
    wrapped = torch.nn.Module()
    wrapped.module = net  # what DDP looks like to get_state_dict
    assert list(get_state_dict(wrapped)) == ["weight", "bias"]
    state = weights_to_cpu(net.state_dict())
    assert hasattr(state, "_metadata") and all(v.device.type == "cpu" for v in state.values())
    assert find_latest_checkpoint(str(tmp_path)) is None
    torch.save(state, tmp_path / "epoch_1.pth")
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_1.pth"))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "epoch_1.pth")
    loaded = CheckpointLoader.load_checkpoint(find_latest_checkpoint(str(tmp_path)), map_location="cpu")
    assert torch.equal(loaded["weight"], net.weight.detach())
    with pytest.raises(NotImplementedError, match="one safe loader"):
        CheckpointLoader.register_scheme("s3://")
    with autocast(device_type="cpu"):
        assert net(torch.ones(1, 2)).dtype == torch.bfloat16
    with autocast(device_type="cpu", enabled=False):
        assert net(torch.ones(1, 2)).dtype == torch.float32


def test_checkpoint_loader_refuses_unsafe_pickles(tmp_path):
    from kiln.errors import CheckpointError
    from kiln.runner import CheckpointLoader

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": Payload()}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="weights_only"):
        CheckpointLoader.load_checkpoint(str(tmp_path / "bad.pth"))
