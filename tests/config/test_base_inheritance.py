"""``_base_`` trees (.py and .yaml mixed), ``_delete_``, ``{{...}}`` references, and their errors."""

import os
import textwrap

import pytest

from kiln.config import Config
from kiln.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def tree(tmp_path):
    """configs/x.py -> _base_/models/net.py -> _base_/runtime.yaml: three levels, two formats."""
    write(tmp_path / "configs/_base_/runtime.yaml", """\
        default_scope: kiln
        env_cfg:
          cudnn_benchmark: false
          dist_cfg: {backend: nccl}
        log_level: INFO
        data_root: '{{ $H7_DATA_ROOT:/data/default }}'
        """)
    write(tmp_path / "configs/_base_/models/net.py", """\
        _base_ = ['../runtime.yaml']
        model = dict(type='Net', depth=18, act=dict(type='ReLU', inplace=True), widths=[1, 2, 3])
        lr = 0.1
        names = [str(i) for i in range(3)]  # builtins and comprehensions work
        """)
    return write(tmp_path / "configs/x.py", """\
        _base_ = './_base_/models/net.py'
        model = dict(depth=50, act=dict(_delete_=True, type='GELU'))
        base_model = {{_base_.model}}
        base_depth = '{{_base_.model.depth}}'
        first_width = {{_base_.model.widths.1}}
        tag = 'lr_{{_base_.lr}}'
        work_dir = './work_dirs/{{fileBasenameNoExtension}}'
        here = '{{ fileDirname }}'
        me = '{{fileBasename}}'
        ext = '{{fileExtname}}'
        """)


def test_three_level_tree(tree, monkeypatch):
    monkeypatch.delenv("H7_DATA_ROOT", raising=False)
    cfg = Config.fromfile(tree)
    assert cfg.model == dict(type="Net", depth=50, act=dict(type="GELU"), widths=[1, 2, 3])
    assert cfg.env_cfg.dist_cfg.backend == "nccl" and cfg.default_scope == "kiln"
    assert cfg.names == ["0", "1", "2"]
    # {{_base_.x}}: whole values (in Python and in quotes) and text inside a string
    assert cfg.base_model == dict(type="Net", depth=18, act=dict(type="ReLU", inplace=True), widths=[1, 2, 3])
    assert cfg.base_depth == 18 and cfg.first_width == 2 and cfg.tag == "lr_0.1"
    # predefined variables of the file they are written in
    assert cfg.work_dir == "./work_dirs/x"
    assert cfg.here == str(tree.parent.resolve()) and cfg.me == "x.py" and cfg.ext == ".py"
    assert cfg.data_root == "/data/default"  # env var default


def test_env_var_value_wins_over_default(tree, monkeypatch):
    monkeypatch.setenv("H7_DATA_ROOT", "/mnt/set")
    assert Config.fromfile(tree).data_root == "/mnt/set"


def test_yaml_child_of_python_base(tmp_path):
    write(tmp_path / "base.py", "model = dict(type='Net', depth=18)\nsteps = [1, 2]\n")
    child = write(tmp_path / "child.yaml", """\
        _base_: base.py
        model: {depth: 34}
        copy_of_steps: '{{_base_.steps}}'
        """)
    cfg = Config.fromfile(child)
    assert cfg.model == dict(type="Net", depth=34) and cfg.copy_of_steps == [1, 2]


def test_missing_base_reference_names_file_and_key(tree):
    write(tree, "_base_ = './_base_/models/net.py'\nx = {{_base_.model.bakbone}}\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(tree)
    assert str(info.value) == (f"{tree}: {{{{_base_.model.bakbone}}}}: _base_.model has no key 'bakbone' "
                               "(it has: type, depth, act, widths)")


def test_unknown_predefined_variable_is_an_error(tree):
    write(tree, "work_dir = './work_dirs/{{fileBasenameNoExt}}'\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(tree)
    assert str(info.value).startswith(f"{tree}: unknown reference {{{{fileBasenameNoExt}}}} "
                                      "(did you mean {{fileBasenameNoExtension}}?)")


def test_missing_env_var_without_default(tree, monkeypatch):
    monkeypatch.delenv("H7_NOT_SET", raising=False)
    write(tree, "root = '{{$H7_NOT_SET}}'\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(tree)
    assert str(info.value) == (f"{tree}: {{{{$H7_NOT_SET}}}} refers to the environment variable "
                               "H7_NOT_SET, which is not set, and gives no default ({{$NAME:default}})")


def test_base_cycle_names_the_chain(tmp_path):
    a = write(tmp_path / "a.py", "_base_ = 'b.py'\nx = 1\n")
    write(tmp_path / "b.py", "_base_ = ['c.yaml']\n")
    write(tmp_path / "c.yaml", "_base_: a.py\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(a)
    assert str(info.value) == f"{a}: _base_ cycle: a.py -> b.py -> c.yaml -> a.py"


def test_missing_base_file(tmp_path):
    a = write(tmp_path / "a.py", "_base_ = ['nope.py']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(a)
    assert str(info.value) == f"{a}: _base_: 'nope.py': no such file {tmp_path / 'nope.py'}"


def test_key_from_two_bases_is_an_error(tmp_path):
    write(tmp_path / "b1.py", "model = dict(a=1)\n")
    write(tmp_path / "b2.py", "model = dict(b=1)\n")
    child = write(tmp_path / "child.py", "_base_ = ['b1.py', 'b2.py']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value) == (f"{child}: _base_: key(s) ['model'] are set by both 'b1.py' and "
                               "'b2.py'; a key may come from one base only")


def test_dict_over_non_dict_needs_delete(tmp_path):
    write(tmp_path / "base.py", "scheduler = [dict(type='A')]\n")
    child = write(tmp_path / "child.py", "_base_ = 'base.py'\nscheduler = dict(type='B')\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value) == (f"{child}: scheduler: is a dict here but list [{{'type': 'A'}}] in the "
                               "base config, so it cannot be merged into it; add _delete_=True to "
                               "replace the base value")
    write(child, "_base_ = 'base.py'\nscheduler = dict(_delete_=True, type='B')\n")
    assert Config.fromfile(child).scheduler == dict(type="B")


def test_syntax_error_reports_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.py", "a = 1\nb = dict(c=\n\nd = 2\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(bad)
    assert str(info.value).startswith(f"{bad}:2: invalid syntax:")


def test_exception_in_a_base_reports_that_file_and_line(tmp_path):
    base = write(tmp_path / "base.py", "a = 1\nb = undefined_name + 1\n")
    child = write(tmp_path / "child.py", "_base_ = 'base.py'\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(info.value) == f"{base}:2: NameError: name 'undefined_name' is not defined"


def test_invalid_yaml_and_json_report_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:\d+: invalid YAML"):
        Config.fromfile(bad)
    bad = write(tmp_path / "bad.json", '{"a": 1,\n "b": }\n')
    with pytest.raises(ConfigError, match=rf"^{bad}:2: invalid JSON"):
        Config.fromfile(bad)


def test_format_braces_that_are_not_references_are_left_alone(tmp_path):
    cfg = write(tmp_path / "c.py", "tmpl = '{{}} and {{ a b }}'\nname = '{}'.format(1)\n")
    assert Config.fromfile(cfg).tmpl == "{{}} and {{ a b }}"


def test_relative_base_paths_resolve_from_each_file(tmp_path, monkeypatch):
    write(tmp_path / "deep/a/b/base.py", "v = '{{fileDirname}}'\n")
    child = write(tmp_path / "deep/child.py", "_base_ = 'a/b/base.py'\n")
    monkeypatch.chdir(tmp_path)
    assert Config.fromfile(os.path.relpath(child)).v == str((tmp_path / "deep/a/b").resolve())
