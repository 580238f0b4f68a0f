"""ManagerMixin: named instances per class, current = most recently created."""

import pytest

from kiln.utils import ManagerMixin


class Store(ManagerMixin):
    def __init__(self, name: str = "", size: int = 1) -> None:
        super().__init__(name)
        self.size = size


class OtherStore(ManagerMixin):
    pass


def test_get_instance_creates_once_and_current_is_latest_created():
    a = Store.get_instance("mgr-a", size=3)
    b = Store.get_instance("mgr-b")
    assert Store.get_instance("mgr-a") is a and a.size == 3 and a.instance_name == "mgr-a"
    assert Store.get_current_instance() is b
    assert Store.check_instance_created("mgr-a") and not Store.check_instance_created("mgr-z")
    with pytest.warns(UserWarning, match="should not accept any other arguments"):
        assert Store.get_instance("mgr-a", size=5).size == 3


def test_each_class_has_its_own_table():
    Store.get_instance("mgr-shared")
    assert not OtherStore.check_instance_created("mgr-shared")
    with pytest.raises(RuntimeError, match="OtherStore.get_current_instance"):
        OtherStore.get_current_instance()


def test_name_must_be_a_non_empty_str():
    with pytest.raises(TypeError, match="non-empty str"):
        Store.get_instance("")
    with pytest.raises(TypeError, match="non-empty str"):
        Store(name=3)
