"""Pickle loads refuse payloads that could run code unless the caller opts in explicitly."""

import collections
import datetime
import os
import pickle

import numpy as np
import pytest
import torch

from kiln.fileio import UnsafePickleError, dump, load
from kiln.structures import InstanceData

MARKER = "kiln_unsafe_pickle_marker"


class Payload:
    """Unpickling it calls os.putenv: a child shell sees the variable iff the payload ran."""

    def __reduce__(self):
        return (os.putenv, (MARKER, "ran"))


class Plain:
    def __init__(self):
        self.x = 1


def test_plain_data_round_trips(tmp_path):
    obj = {"t": torch.arange(4.0)[1:3], "n": np.arange(3, dtype=np.float32), "s": {1, 2},
           "f": frozenset([3]), "o": collections.OrderedDict(a=1), "d": collections.defaultdict(list),
           "when": datetime.datetime(2024, 1, 2), "dtype": torch.float16, "size": torch.Size([2]),
           "scalar": np.float64(2.5), "inst": InstanceData(metainfo=dict(k=1), v=torch.ones(2))}
    dump(obj, tmp_path / "ok.pkl")
    back = load(tmp_path / "ok.pkl")
    assert torch.equal(back["t"], torch.tensor([1.0, 2.0])) and back["n"].dtype == np.float32
    assert back["s"] == {1, 2} and back["f"] == frozenset([3]) and back["dtype"] is torch.float16
    assert back["when"].year == 2024 and back["size"] == torch.Size([2]) and back["scalar"] == 2.5
    assert isinstance(back["inst"], InstanceData) and back["inst"].k == 1 and len(back["inst"]) == 2


def test_code_running_payload_is_refused_without_running(tmp_path):
    os.environ.pop(MARKER, None)
    dump(Payload(), tmp_path / "evil.pkl")
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*(posix|os)\.putenv"):
        load(tmp_path / "evil.pkl")
    assert MARKER not in os.environ and os.system(f'test -z "${MARKER}"') == 0  # did not run
    assert isinstance(UnsafePickleError("x"), pickle.UnpicklingError)


def test_arbitrary_classes_are_refused_and_load_with_the_opt_in(tmp_path):
    dump({"p": Plain()}, tmp_path / "cls.pkl")
    with pytest.raises(UnsafePickleError, match="Plain.*allow_unsafe=True"):
        load(tmp_path / "cls.pkl")
    assert load(tmp_path / "cls.pkl", allow_unsafe=True)["p"].x == 1


def test_file_objects_are_refused_too(tmp_path):
    dump(Plain(), tmp_path / "cls.pkl")
    with open(tmp_path / "cls.pkl", "rb") as f, pytest.raises(UnsafePickleError):
        load(f, file_format="pickle")
