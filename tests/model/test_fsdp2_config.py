"""FSDP2 wrapper config values, checked in one process: every bad value is a ConfigError naming
``model_wrapper_cfg.<key>``, raised before any process group is needed (none exists here)."""

import pytest
import torch
import torch.distributed as torch_dist
from torch import nn

from kiln.errors import ConfigError
from kiln.model import BaseModel
from kiln.registry import MODEL_WRAPPERS

fsdp2 = pytest.importorskip("kiln.model.wrappers.fsdp2")
fsdp2_config = pytest.importorskip("kiln.model.wrappers.fsdp2_config")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(4, 2)

    def forward(self, x, mode="tensor"):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@pytest.mark.parametrize("key, value, expected", [
    ("mesh", "2x4", "model_wrapper_cfg.mesh"),
    ("mesh", dict(shape=(2, 4)), "model_wrapper_cfg.mesh.shape: (2, 4) holds 8 ranks, but the world size is 1"),
    ("mesh", dict(shape=(0, 1)), "model_wrapper_cfg.mesh.shape"),
    ("mesh", dict(shape=(1, 1), names=("a", "a")), "model_wrapper_cfg.mesh.names"),
    ("mesh", dict(shape=(1,), names=("replicate", "shard")), "model_wrapper_cfg.mesh.names"),
    ("mesh", dict(shape=(1,), dims=2), "model_wrapper_cfg.mesh: unexpected key(s) ['dims']"),
    ("reshard_after_forward", "yes", "model_wrapper_cfg.reshard_after_forward"),
    ("mp_policy", dict(param_dtype="bfloat17"), "model_wrapper_cfg.mp_policy.param_dtype"),
    ("mp_policy", dict(param_dtype="int8"), "model_wrapper_cfg.mp_policy.param_dtype"),
    ("mp_policy", dict(buffer_dtype="float32"), "model_wrapper_cfg.mp_policy: unexpected key(s)"),
    ("mp_policy", "bf16", "model_wrapper_cfg.mp_policy"),
    ("offload_policy", "gpu", "model_wrapper_cfg.offload_policy"),
    ("offload_policy", dict(type="cpu", pin=False), "model_wrapper_cfg.offload_policy"),
    ("wrap", 3, "model_wrapper_cfg.wrap"),
    ("wrap", ["Blok"], "model_wrapper_cfg.wrap: no submodule of Net is a ['Blok']"),
    ("activation_checkpointing", ["Linaer"], "model_wrapper_cfg.activation_checkpointing"),
])
def test_bad_value_is_config_error_before_any_process_group(key, value, expected):
    assert not torch_dist.is_initialized()
    with pytest.raises(ConfigError) as err:
        MODEL_WRAPPERS.build(dict(type="FSDP2", module=Net(), **{key: value}))
    assert expected in str(err.value)
    if key == "wrap" and isinstance(value, list):
        assert "did you mean 'Block'" in str(err.value)


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"model_wrapper_cfg\.reshard_after_fwd: .*did you mean "
                                          r"'reshard_after_forward'"):
        fsdp2_config.check_fsdp2_cfg(dict(type="FSDP2", reshard_after_fwd=True))


def test_good_values_become_torch_policies():
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

    opts = fsdp2_config.check_fsdp2_cfg(dict(
        type="FSDP2", mesh=dict(shape=(2, 4), names=("replicate", "shard")), reshard_after_forward=False,
        mp_policy=dict(param_dtype="bfloat16", reduce_dtype="torch.float32"), offload_policy="cpu",
        wrap="Block", activation_checkpointing=True), world_size=8)
    assert opts.mesh == ((2, 4), ("replicate", "shard"))
    assert opts.mp_policy == MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    assert isinstance(opts.offload_policy, CPUOffloadPolicy) and opts.offload_policy.pin_memory
    assert opts.wrap == ("Block",) and opts.activation_checkpointing is True
    assert not fsdp2_config.check_fsdp2_cfg(dict(offload_policy=dict(type="cpu", pin_memory=False))).offload_policy.pin_memory


def test_default_units_look_through_module_lists():
    net = Net()
    units = fsdp2.select_modules(net, None, "model_wrapper_cfg.wrap")
    assert units == [net.blocks[0], net.blocks[1], net.head]  # not the parameter-free preprocessor
    assert fsdp2.select_modules(net, ["Block"], "k") == list(net.blocks)


class Table(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.arange(4.0))


class Rebuilt(Table):
    def reset_parameters(self):
        self.table.copy_(torch.arange(4.0))


def test_meta_buffers_need_a_module_that_recreates_them():
    with torch.device("meta"):
        bad, good = nn.Sequential(Table()), nn.Sequential(Rebuilt(), nn.BatchNorm1d(3))
    with pytest.raises(RuntimeError, match=r"0 \(Table\) has buffer\(s\) \['table'\].*reset_parameters"):
        fsdp2.check_buffers_recreated(bad)
    fsdp2.check_buffers_recreated(good)
    fsdp2.materialize_meta_module(good, torch.device("cpu"))
    torch.testing.assert_close(good[0].table, torch.arange(4.0))
    assert good[1].running_var.eq(1).all() and good[1].num_batches_tracked == 0


def test_runner_builds_a_config_model_on_meta_only_for_distributed_fsdp2():
    from kiln.registry import MODELS
    from kiln.runner import builders

    seen = []

    @MODELS.register_module(force=True)
    class MetaProbe(BaseModel):
        def __init__(self, data_preprocessor=None):
            super().__init__(data_preprocessor=data_preprocessor)
            seen.append(torch.empty(0).device.type)
            self.fc = nn.Linear(2, 2)

        def forward(self, x, mode="tensor"):
            return self.fc(x)

    cfg = dict(type="MetaProbe", data_preprocessor=dict(type="ImgDataPreprocessor", mean=[1.0], std=[2.0]))
    model = builders.build_model(cfg, None, dict(type="FSDP2"), distributed=True)
    assert seen == ["meta"] and model.fc.weight.is_meta
    assert not model.data_preprocessor.mean.is_meta  # built off meta: its constants are real
    builders.build_model(cfg, None, dict(type="FSDP2"), distributed=False)
    builders.build_model(cfg, None, dict(type="MMDistributedDataParallel"), distributed=True)
    assert seen == ["meta", "cpu", "cpu"]
    with pytest.raises(ConfigError, match="model_wrapper_cfg.wrap"):
        builders.build_model(cfg, None, dict(type="FSDP2", wrap=5), distributed=True)
    assert len(seen) == 3  # checked before the model was built
