"""The local backend's helpers; other backends are refused by name before anything happens."""

import pytest

from kiln import fileio


def test_local_helpers(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    fileio.put(b"\x00\x01", target)
    assert fileio.get(target) == b"\x00\x01"
    fileio.put_text("héllo", tmp_path / "t.txt")
    assert fileio.get_text(tmp_path / "t.txt") == "héllo"
    assert fileio.exists(target) and fileio.isfile(target) and not fileio.isdir(target)
    assert fileio.isdir(tmp_path / "sub")
    assert fileio.join_path(str(tmp_path), "sub", "f.bin") == str(target)
    assert fileio.get(f"file://{target}") == b"\x00\x01"
    fileio.remove(target)
    assert not fileio.exists(target)


@pytest.mark.parametrize("path, backend", [("s3://bucket/a.json", "petrel"),
                                           ("petrel://b/a.pkl", "petrel"),
                                           ("https://host/a.yaml", "http")])
def test_remote_paths_name_the_backend(path, backend):
    with pytest.raises(NotImplementedError, match=f"needs the '{backend}' backend"):
        fileio.load(path)
    with pytest.raises(NotImplementedError, match=f"'{backend}'"):
        fileio.exists(path)
    with pytest.raises(NotImplementedError, match=f"'{backend}'"):
        with fileio.get_local_path(path):
            pass


@pytest.mark.parametrize("backend", ["petrel", "memcached", "lmdb"])
def test_backend_args_name_the_backend(tmp_path, backend):
    with pytest.raises(NotImplementedError, match=f"not '{backend}'"):
        fileio.dump({}, tmp_path / "a.json", backend_args={"backend": backend})
    assert not (tmp_path / "a.json").exists()       # refused before writing anything
    fileio.dump({}, tmp_path / "a.json", backend_args={"backend": "local"})
    assert fileio.load(tmp_path / "a.json", backend_args={"backend": "local"}) == {}
