"""Write a file shaped like an MMEngine checkpoint: pickled HistoryBuffer objects and numpy values.

The class is defined under MMEngine's module path only while saving, and its ``__setstate__``
leaves a mark on disk if anything ever runs it: readers must never execute it.
"""

import sys
import types

import numpy as np
import torch


def fake_mmengine_checkpoint(path, side_effect_file, state_dict=None, meta=None, **extra):
    """Write a checkpoint shaped like MMEngine's, with a class that would act if it were run."""
    module = types.ModuleType("mmengine.logging.history_buffer")

    class HistoryBuffer:
        def __init__(self, log_history, count_history, max_length=1000000):
            self._log_history = np.asarray(log_history)
            self._count_history = np.asarray(count_history)
            self.max_length = max_length
            self._global_sum = np.float64(sum(log_history))
            self._global_count = len(count_history)

        def __setstate__(self, state):  # a real unpickle would run this: we must not
            open(side_effect_file, "w").write("executed")
            self.__dict__.update(state)

    HistoryBuffer.__module__ = module.__name__
    HistoryBuffer.__qualname__ = "HistoryBuffer"
    module.HistoryBuffer = HistoryBuffer
    names = ["mmengine", "mmengine.logging", "mmengine.logging.history_buffer"]
    for name in names:
        sys.modules[name] = sys.modules.get(name) or types.ModuleType(name)
    sys.modules["mmengine.logging.history_buffer"] = module
    try:
        checkpoint = {
            "meta": meta or {"epoch": 3, "iter": 30, "mmengine_version": "0.10.7", "seed": 7,
                     "dataset_meta": {"classes": ("cat", "dog")}},
            "state_dict": state_dict if state_dict is not None else {"linear.weight": torch.ones(2, 2)},
            "message_hub": {
                "log_scalars": {"train/loss": HistoryBuffer([0.5, 0.25], [1, 1]),
                                "train/lr": HistoryBuffer(np.array([0.1, 0.1], dtype=np.float32), [1, 1])},
                "runtime_info": {"epoch": 3, "iter": 30, "mean": np.float32(1.5),
                                 "grid": np.arange(6, dtype=np.int16).reshape(2, 3)},
                "resumed_keys": {"epoch": True},
            },
        }
        checkpoint.update(extra)
        torch.save(checkpoint, path)
    finally:
        for name in names:
            sys.modules.pop(name, None)
