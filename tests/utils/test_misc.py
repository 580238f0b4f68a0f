"""Type checks, tuple helpers, is_method_overridden, import_modules_from_strings, deprecated names."""

import warnings

import pytest

from kiln.utils import (
    deprecated_api_warning,
    import_modules_from_strings,
    is_list_of,
    is_method_overridden,
    is_seq_of,
    is_str,
    is_tuple_of,
    to_1tuple,
    to_2tuple,
    to_4tuple,
    to_ntuple,
)


def test_sequence_checks():
    assert is_str("a") and not is_str(b"a")
    assert is_seq_of([1, 2], int) and is_seq_of((1,), int) and is_seq_of("ab", str)
    assert not is_seq_of([1, "a"], int) and not is_seq_of(1, int)
    assert is_seq_of([], int)
    assert is_seq_of([1], (int, str), seq_type=list) and not is_seq_of((1,), int, seq_type=list)
    assert is_list_of([1.0], float) and not is_list_of((1.0,), float)
    assert is_tuple_of((1,), int) and not is_tuple_of([1], int)


def test_ntuple():
    assert to_2tuple(3) == (3, 3) and to_1tuple(1) == (1,) and to_4tuple(0) == (0, 0, 0, 0)
    assert to_2tuple((1, 2)) == (1, 2) and to_2tuple("ab") == "ab"
    assert to_ntuple(3)(None) == (None, None, None)


def test_is_method_overridden():
    class Base:
        def f(self):
            pass

        def g(self):
            pass

    class Child(Base):
        def f(self):
            pass

    assert is_method_overridden("f", Base, Child) and not is_method_overridden("g", Base, Child)
    assert is_method_overridden("f", Base, Child())
    with pytest.raises(TypeError, match="must be a class"):
        is_method_overridden("f", Base(), Child)


def test_import_modules_from_strings():
    import json
    import os.path

    assert import_modules_from_strings("json") is json
    assert import_modules_from_strings(["json", "os.path"]) == [json, os.path]
    assert import_modules_from_strings(None) is None
    with pytest.raises(ImportError, match="Failed to import kiln_no_such_module"):
        import_modules_from_strings("kiln_no_such_module")
    with pytest.warns(UserWarning, match="kiln_no_such_module failed to import"):
        assert import_modules_from_strings(["kiln_no_such_module", "json"],
                                           allow_failed_imports=True) == [None, json]
    with pytest.raises(TypeError, match="list of str"):
        import_modules_from_strings([1])


def test_deprecated_api_warning_renames_keywords():
    @deprecated_api_warning({"old": "new"}, cls_name="Thing")
    def f(new=0):
        return new

    with pytest.warns(DeprecationWarning, match='"old" is deprecated in `Thing.f`'):
        assert f(old=3) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(new=2) == 2
    with pytest.raises(TypeError, match="both the deprecated 'old' and 'new'"):
        f(old=1, new=2)
