"""MMEngine checkpoints (HistoryBuffer + numpy pickles) read inertly under weights_only=True."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from kiln.checkpoint.mmengine_compat import (
    convert_foreign,
    message_hub_to_plain,
    mmengine_safe_globals,
)
from kiln.runner.message_hub import MessageHub


def _fake_mmengine_checkpoint(path, side_effect_file):
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
            "meta": {"epoch": 3, "iter": 30, "mmengine_version": "0.10.7", "seed": 7,
                     "dataset_meta": {"classes": ("cat", "dog")}},
            "state_dict": {"linear.weight": torch.ones(2, 2)},
            "message_hub": {
                "log_scalars": {"train/loss": HistoryBuffer([0.5, 0.25], [1, 1]),
                                "train/lr": HistoryBuffer(np.array([0.1, 0.1], dtype=np.float32), [1, 1])},
                "runtime_info": {"epoch": 3, "iter": 30, "mean": np.float32(1.5),
                                 "grid": np.arange(6, dtype=np.int16).reshape(2, 3)},
                "resumed_keys": {"epoch": True},
            },
        }
        torch.save(checkpoint, path)
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_plain_weights_only_load_refuses_it(tmp_path):
    path = tmp_path / "mm.pth"
    _fake_mmengine_checkpoint(path, tmp_path / "pwned")
    with pytest.raises(pickle.UnpicklingError, match="HistoryBuffer|numpy"):
        torch.load(path, weights_only=True)


def test_reads_mmengine_checkpoint_without_running_its_code(tmp_path):
    path, flag = tmp_path / "mm.pth", tmp_path / "pwned"
    _fake_mmengine_checkpoint(path, flag)
    with mmengine_safe_globals():
        ckpt = convert_foreign(torch.load(path, weights_only=True))
    assert not flag.exists(), "the pickled class's code must never run"
    assert torch.equal(ckpt["state_dict"]["linear.weight"], torch.ones(2, 2))
    hub = message_hub_to_plain(ckpt["message_hub"])
    assert hub["log_scalars"]["train/loss"] == {"log_history": [0.5, 0.25], "count_history": [1, 1],
                                                "max_length": 1000000}
    assert hub["log_scalars"]["train/lr"]["log_history"] == pytest.approx([0.1, 0.1])
    assert hub["runtime_info"]["mean"] == 1.5
    assert torch.equal(hub["runtime_info"]["grid"], torch.arange(6, dtype=torch.int16).reshape(2, 3))
    assert hub["resumed_keys"] == {"epoch": True}
    # and the history continues in kiln's MessageHub
    kiln_hub = MessageHub(name="from-mmengine")
    kiln_hub.load_state_dict(hub)
    assert kiln_hub.get_scalar("train/loss").current() == 0.25
    assert kiln_hub.get_scalar("train/loss").mean() == 0.375
    # outside the block the globals are no longer allowed
    with pytest.raises(pickle.UnpicklingError, match="HistoryBuffer|numpy"):
        torch.load(path, weights_only=True)


def test_object_arrays_stay_inert(tmp_path):
    path = tmp_path / "obj.pth"
    torch.save({"names": np.array(["a", 1], dtype=object)}, path)
    with mmengine_safe_globals():
        ckpt = convert_foreign(torch.load(path, weights_only=True))
    assert ckpt["names"] == ["a", 1]
