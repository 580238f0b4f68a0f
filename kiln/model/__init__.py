"""Models: BaseModule + config-driven init, BaseModel, data preprocessors, EMA, wrappers, utils."""

from typing import TYPE_CHECKING

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "base_module": ["BaseModule", "ModuleList", "Sequential", "ModuleDict"],
    "weight_init.initializers": [
        "BaseInit", "ConstantInit", "XavierInit", "NormalInit", "TruncNormalInit", "UniformInit",
        "KaimingInit", "Caffe2XavierInit", "PretrainedInit", "update_init_info",
    ],
    "weight_init.functions": [
        "constant_init", "xavier_init", "normal_init", "trunc_normal_init", "uniform_init",
        "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
    ],
    "weight_init.compile": ["initialize"],
    "base_model": ["BaseModel"],
    "data_preprocessor": ["BaseDataPreprocessor", "ImgDataPreprocessor"],
    "averaged_model": [
        "BaseAveragedModel", "ExponentialMovingAverage", "MomentumAnnealingEMA",
        "StochasticWeightAverage",
    ],
    "utils": [
        "stack_batch", "merge_dict", "detect_anomalous_params", "convert_sync_batchnorm",
        "revert_sync_batchnorm",
    ],
    "test_time_aug": ["BaseTTAModel"],
    "wrappers.utils": ["is_model_wrapper", "unwrap_model"],
    "wrappers.distributed": ["MMDistributedDataParallel", "MMSeparateDistributedDataParallel"],
    "wrappers.fully_sharded": ["MMFullyShardedDataParallel"],
    "wrappers.fsdp2": ["FullyShardWrapper"],
})

if TYPE_CHECKING:  # static tools see the real names
    from .averaged_model import *  # noqa: F403
    from .base_model import *  # noqa: F403
    from .base_module import *  # noqa: F403
    from .data_preprocessor import *  # noqa: F403
    from .test_time_aug import *  # noqa: F403
    from .utils import *  # noqa: F403
    from .weight_init.compile import initialize  # noqa: F401
    from .weight_init.functions import *  # noqa: F403
    from .weight_init.initializers import *  # noqa: F403
    from .wrappers.distributed import *  # noqa: F403
    from .wrappers.utils import *  # noqa: F403
