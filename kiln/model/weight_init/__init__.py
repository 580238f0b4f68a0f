"""Config-driven weight initialization: initializers, functional inits, the init_cfg compiler, the report.

``initializers`` holds the registered ``*Init`` classes, ``functions`` the functional inits
(``kaiming_init``...), ``compile`` validates a whole ``init_cfg`` tree before the first weight
changes (and ``initialize`` runs it), ``report`` records which initializer last wrote each
parameter, ``sharded`` reads one rank's slices of a checkpoint for FSDP2 (DTensor) modules. Imports flow functions/report -> initializers -> compile, never back.
"""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "initializers": [
        "BaseInit", "ConstantInit", "XavierInit", "NormalInit", "TruncNormalInit", "UniformInit",
        "KaimingInit", "Caffe2XavierInit", "PretrainedInit", "update_init_info",
    ],
    "functions": [
        "constant_init", "xavier_init", "normal_init", "trunc_normal_init", "uniform_init",
        "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
    ],
    "compile": ["initialize", "compile_init_cfg"],
    "report": ["InitReport"],
    "sharded": ["read_local_shards"],
})
