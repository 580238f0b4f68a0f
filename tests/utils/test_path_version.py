"""mkdir_or_exist, scandir, digit_version, dl_utils."""

import os
from collections import OrderedDict

import pytest
import torch

from kiln.utils import check_file_exist, digit_version, is_filepath, mkdir_or_exist, scandir
from kiln.utils.dl_utils import TORCH_VERSION, collect_env


def test_mkdir_or_exist(tmp_path, monkeypatch):
    mkdir_or_exist(tmp_path / "a" / "b")
    mkdir_or_exist(tmp_path / "a" / "b")       # exists: fine
    assert (tmp_path / "a" / "b").is_dir()
    mkdir_or_exist("")                          # no-op
    monkeypatch.setenv("HOME", str(tmp_path))
    mkdir_or_exist("~/home_dir")
    assert (tmp_path / "home_dir").is_dir()


def test_scandir_and_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["a.py", "b.TXT", "sub/c.py"]:
        (tmp_path / name).write_text("")
    assert sorted(scandir(tmp_path)) == ["a.py", "b.TXT"]
    assert sorted(scandir(tmp_path, ".py", recursive=True)) == ["a.py", os.path.join("sub", "c.py")]
    assert list(scandir(tmp_path, ".txt", case_sensitive=False)) == ["b.TXT"]
    assert is_filepath(tmp_path) and not is_filepath(1)
    check_file_exist(tmp_path / "a.py")
    with pytest.raises(FileNotFoundError, match="nope"):
        check_file_exist(tmp_path / "nope")


@pytest.mark.parametrize("version, expected", [
    ("1.13.0", (1, 13, 0, 0, 0, 0)),
    ("2.1", (2, 1, 0, 0, 0, 0)),
    ("2.1.0rc1", (2, 1, 0, 0, -1, 1)),
    ("1.0.0a2", (1, 0, 0, 0, -3, 2)),
    ("1.0.0b0", (1, 0, 0, 0, -2, 0)),
    ("2.0.0.dev20230101", (2, 0, 0, 0, -4, 0)),
    ("1.2.3.post4", (1, 2, 3, 0, 1, 4)),
    ("2.13.0+cpu", (2, 13, 0, 0, 0, 0)),
])
def test_digit_version(version, expected):
    assert digit_version(version) == expected


def test_digit_version_orders_releases_and_rejects_garbage():
    ordered = ["1.0.0.dev1", "1.0.0a1", "1.0.0b1", "1.0.0rc1", "1.0.0", "1.0.0.post1", "1.0.1"]
    assert sorted(ordered, key=digit_version) == ordered
    assert digit_version("1.2.3.4.5", length=5)[:5] == (1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="failed to parse version 'banana'"):
        digit_version("banana")


def test_dl_utils():
    assert TORCH_VERSION == torch.__version__
    env = collect_env()
    assert isinstance(env, OrderedDict) and next(iter(env)) == "sys.platform"
    assert env["PyTorch"] == torch.__version__ and env["CUDA available"] == str(torch.cuda.is_available())
    keys = list(env)
    assert keys.index("PyTorch") < keys.index("kiln")
