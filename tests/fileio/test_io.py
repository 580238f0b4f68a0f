"""load/dump round trips by suffix and by file_format, file objects, the line readers."""

import io
import os

import numpy as np
import pytest

from kiln.fileio import dict_from_file, dump, get_local_path, list_from_file, load

OBJ = {"name": "run", "lr": 0.1, "steps": [1, 2, 3], "nested": {"ok": True, "none": None}}


@pytest.mark.parametrize("suffix", ["json", "yaml", "yml", "pkl", "pickle"])
def test_round_trip_by_suffix(tmp_path, suffix):
    path = tmp_path / f"obj.{suffix}"
    dump(OBJ, path)
    assert load(path) == OBJ
    assert load(str(path)) == OBJ


@pytest.mark.parametrize("fmt, mode", [("json", ""), ("yaml", ""), ("pickle", "b")])
def test_round_trip_through_file_objects_and_strings(fmt, mode):
    buffer = io.BytesIO() if mode else io.StringIO()
    dump(OBJ, buffer, file_format=fmt)
    buffer.seek(0)
    assert load(buffer, file_format=fmt) == OBJ
    text = dump(OBJ, file_format=fmt)
    assert isinstance(text, bytes if mode else str)
    assert load(io.BytesIO(text) if mode else io.StringIO(text), file_format=fmt) == OBJ


def test_json_writes_numpy_and_sets_yaml_writes_tuples(tmp_path):
    dump({"a": np.arange(3), "s": {2}, "n": np.float32(1.5), "r": range(2)}, tmp_path / "x.json")
    assert load(tmp_path / "x.json") == {"a": [0, 1, 2], "s": [2], "n": 1.5, "r": [0, 1]}
    with pytest.raises(TypeError, match="unsupported for json dump"):
        dump({"o": object()}, file_format="json")
    dump({"t": (1, 2)}, tmp_path / "x.yaml")
    assert load(tmp_path / "x.yaml") == {"t": [1, 2]}


def test_yaml_load_refuses_python_tags(tmp_path):
    (tmp_path / "evil.yaml").write_text("x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="python/object"):
        load(tmp_path / "evil.yaml")


def test_format_errors_are_clear(tmp_path):
    with pytest.raises(TypeError, match="Unsupported format: 'txt'"):
        load(tmp_path / "a.txt")
    with pytest.raises(ValueError, match="file_format must be specified since file is None"):
        dump(OBJ)
    with pytest.raises(ValueError, match="file_format must be given"):
        load(io.StringIO("{}"))
    with pytest.raises(ValueError, match="cannot be set at the same time"):
        load(tmp_path / "a.json", file_client_args={}, backend_args={})
    with pytest.raises(ValueError, match="only applies to pickle"):
        load(tmp_path / "a.json", allow_unsafe=True)


def test_dump_creates_parent_directories(tmp_path):
    dump([1], tmp_path / "deep" / "er" / "x.json")
    assert load(tmp_path / "deep" / "er" / "x.json") == [1]


def test_list_and_dict_from_file(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a\nb\r\nc\nd\n")
    assert list_from_file(path) == ["a", "b", "c", "d"]
    assert list_from_file(path, prefix="p/", offset=1, max_num=2) == ["p/b", "p/c"]
    mapping = tmp_path / "map.txt"
    mapping.write_text("1 cat\n2 dog puppy\n\n")
    assert dict_from_file(mapping, key_type=int) == {1: "cat", 2: ["dog", "puppy"]}
    mapping.write_text("lonely\n")
    with pytest.raises(ValueError, match="map.txt:1: expected a key"):
        dict_from_file(mapping)


def test_get_local_path_yields_the_local_path(tmp_path):
    path = tmp_path / "f.json"
    dump({}, path)
    with get_local_path(str(path)) as local:
        assert os.path.samefile(local, path)
