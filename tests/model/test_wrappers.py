"""is_model_wrapper and the wrappers' argument validation (single process)."""

import pytest
import torch
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel

from kiln.errors import ConfigError
from kiln.model import (
    MMDistributedDataParallel,
    MMSeparateDistributedDataParallel,
    is_model_wrapper,
)
from kiln.registry import MODEL_WRAPPERS, Registry


def test_registered_wrappers():
    for cls in (DistributedDataParallel, DataParallel, MMDistributedDataParallel, MMSeparateDistributedDataParallel):
        assert MODEL_WRAPPERS.get(cls.__name__) is cls
    assert MODEL_WRAPPERS.get("MMFullyShardedDataParallel") is not None


def test_is_model_wrapper():
    net = nn.Linear(1, 1)
    assert not is_model_wrapper(net)
    assert is_model_wrapper(DataParallel(net))

    custom = Registry("custom wrapper")

    @custom.register_module()
    class MyWrapper(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    assert is_model_wrapper(MyWrapper(net), registry=custom)
    assert not is_model_wrapper(MyWrapper(net))  # not in the default registry


@pytest.mark.parametrize("kwargs, key", [
    (dict(sharding_strategy="HALF_SHARD"), "sharding_strategy"),
    (dict(backward_prefetch="EARLY"), "backward_prefetch"),
    (dict(auto_wrap_policy="no_such_policy"), "auto_wrap_policy"),
    (dict(auto_wrap_policy=dict(min_num_params=3)), "auto_wrap_policy"),
    (dict(mixed_precision=dict(param_dtype="float17")), "mixed_precision.param_dtype"),
])
def test_fsdp_config_errors_name_the_key(kwargs, key):
    from kiln.model import MMFullyShardedDataParallel

    with pytest.raises(ConfigError) as info:
        MMFullyShardedDataParallel(nn.Linear(1, 1), **kwargs)
    assert info.value.path == key


def test_fsdp_resolves_names_dicts_and_dtypes():
    from kiln.model.wrappers.fully_sharded import _function
    from kiln.model.wrappers.fully_sharded import parse_dtype as _dtype

    policy = _function(dict(type="size_based_auto_wrap_policy", min_num_params=7), "auto_wrap_policy")
    assert policy.keywords == {"min_num_params": 7}
    assert _dtype("bfloat16", "k") is torch.bfloat16 and _dtype("torch.float16", "k") is torch.float16
